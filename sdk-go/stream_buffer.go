package sdk

import (
	"io"
	"sync"
)

// streamBuffer is an unbounded in-memory pipe: writes never block (so the engine reader is
// never stalled by a slow consumer), reads block until data arrives or the writer closes.
type streamBuffer struct {
	mu     sync.Mutex
	cond   *sync.Cond
	data   []byte
	closed bool
	err    error
}

func newStreamBuffer() *streamBuffer {
	b := &streamBuffer{}
	b.cond = sync.NewCond(&b.mu)
	return b
}

func (b *streamBuffer) write(p []byte) {
	b.mu.Lock()
	b.data = append(b.data, p...)
	b.cond.Broadcast()
	b.mu.Unlock()
}

// closeWithError ends the stream; readers get the rest of the data, then err (or io.EOF).
func (b *streamBuffer) closeWithError(err error) {
	b.mu.Lock()
	if !b.closed {
		b.closed, b.err = true, err
	}
	b.cond.Broadcast()
	b.mu.Unlock()
}

func (b *streamBuffer) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.data) == 0 && !b.closed {
		b.cond.Wait()
	}
	if len(b.data) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		return 0, io.EOF
	}
	n := copy(p, b.data)
	b.data = b.data[n:]
	return n, nil
}
