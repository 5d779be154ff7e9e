package sdk

import (
	"io"
	"sync"
)

// stderrTailSize bounds what is kept of the engine's stderr for error reports.
const stderrTailSize = 8 << 10

// stderrTail keeps the last stderrTailSize bytes written to it. It never blocks, so the
// engine can never stall on a full stderr pipe.
type stderrTail struct {
	mu   sync.Mutex
	data []byte
}

func (t *stderrTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.data = append(t.data, p...)
	if over := len(t.data) - stderrTailSize; over > 0 {
		t.data = append(t.data[:0:0], t.data[over:]...)
	}
	return len(p), nil
}

func (t *stderrTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.data)
}

// drain copies r into the tail until EOF and then closes done.
func (t *stderrTail) drain(r io.ReadCloser, done chan<- struct{}) {
	defer close(done)
	defer r.Close()
	_, _ = io.Copy(t, r)
}
