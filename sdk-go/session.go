package sdk

import (
	"context"
	"encoding/base64"
	"io"
	"sync"
)

// session is a running exec_pipe / exec_tty request: the command's stdin is fed with input
// notifications keyed by the request id, sent only after the engine said `<method>.ready`.
type session struct {
	eng    *engine
	method string
	id     uint64

	readyOnce sync.Once
	ready     chan struct{}
	done      chan struct{} // closed once result/err are set
	result    *ExecStreamResult
	err       error

	inputMu     sync.Mutex
	stdinClosed bool
}

type inputChunk struct {
	ID   uint64 `json:"id"`
	Data string `json:"data"`
}

type inputID struct {
	ID uint64 `json:"id"`
}

type resizeParams struct {
	ID   uint64 `json:"id"`
	Rows uint16 `json:"rows"`
	Cols uint16 `json:"cols"`
}

// startSession sends the request and returns once the engine is ready for input (or the
// request already ended with an error). onFinish runs after the result is known.
func (c *Client) startSession(ctx context.Context, method string, params interface{},
	onStdout, onStderr func([]byte), onFinish func(error)) (*session, error) {
	s := &session{eng: c.eng, method: method, ready: make(chan struct{}), done: make(chan struct{})}
	markReady := func() { s.readyOnce.Do(func() { close(s.ready) }) }
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	id, pc, err := c.eng.begin(method, params, outputRouter(method, onStdout, onStderr, markReady))
	if err != nil {
		return nil, err
	}
	s.id = id
	go func() {
		raw, err := c.eng.await(ctx, id, pc)
		if err == nil {
			s.result, err = decodeExit(method, raw)
		}
		s.err = err
		s.inputMu.Lock()
		s.stdinClosed = true // nothing more may be sent for a finished request
		s.inputMu.Unlock()
		close(s.done)
		if onFinish != nil {
			onFinish(err)
		}
	}()
	select {
	case <-s.ready:
		return s, nil
	case <-s.done:
		if s.err != nil {
			return nil, s.err
		}
		return s, nil
	}
}

// write sends p as stdin chunks; it fails with io.ErrClosedPipe after closeInput or the end.
func (s *session) write(p []byte) (int, error) {
	s.inputMu.Lock()
	defer s.inputMu.Unlock()
	if s.stdinClosed {
		return 0, io.ErrClosedPipe
	}
	written := 0
	for written < len(p) {
		end := written + maxChunkLen
		if end > len(p) {
			end = len(p)
		}
		chunk := inputChunk{ID: s.id, Data: base64.StdEncoding.EncodeToString(p[written:end])}
		if err := s.eng.notify(s.method+".stdin", chunk); err != nil {
			return written, err
		}
		written = end
	}
	return written, nil
}

// closeInput sends stdin_eof once.
func (s *session) closeInput() error {
	s.inputMu.Lock()
	defer s.inputMu.Unlock()
	if s.stdinClosed {
		return nil
	}
	s.stdinClosed = true
	return s.eng.notify(s.method+".stdin_eof", inputID{ID: s.id})
}

func (s *session) resize(rows, cols uint16) error {
	select {
	case <-s.done:
		return io.ErrClosedPipe
	default:
	}
	return s.eng.notify(s.method+".resize", resizeParams{ID: s.id, Rows: rows, Cols: cols})
}

// pumpInput copies r to the session's stdin, then sends EOF. It stops early when the
// request ends; a Read that never returns keeps only this goroutine waiting.
func (s *session) pumpInput(r io.Reader) {
	if r == nil {
		_ = s.closeInput()
		return
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := s.write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			_ = s.closeInput()
			return
		}
	}
}

func (s *session) wait() (*ExecStreamResult, error) {
	<-s.done
	return s.result, s.err
}

// kill cancels the request in the engine (the guest process group is killed).
func (s *session) kill() {
	select {
	case <-s.done:
	default:
		s.eng.cancel(s.id)
	}
}
