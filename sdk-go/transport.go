package sdk

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// Bounds on waits that have no event of their own to end them: a grandchild of the engine
// could keep a pipe open after the engine itself is gone.
const (
	pipeGrace   = 2 * time.Second
	writeBound  = 5 * time.Second
	maxChunkLen = 64 << 10
)

// notifyFunc receives the request-scoped notifications of one call, on the reader goroutine.
type notifyFunc func(method string, params json.RawMessage)

type pendingCall struct {
	method string
	notify notifyFunc
	reply  chan incoming // buffered: the reader never blocks on it
}

type rpcErrorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type incoming struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *rpcErrorBody   `json:"error"`
}

type outgoing struct {
	JSONRPC string      `json:"jsonrpc"`
	Method  string      `json:"method"`
	Params  interface{} `json:"params,omitempty"`
	ID      *uint64     `json:"id,omitempty"`
}

// engine is one `matchlock rpc` process and the JSON-RPC multiplexer over its stdio.
type engine struct {
	cmd     *exec.Cmd
	stdin   *os.File
	stdout  *os.File
	stderr  stderrTail
	onEvent func(params json.RawMessage)

	writeMu sync.Mutex

	mu       sync.Mutex
	nextID   uint64
	pending  map[uint64]*pendingCall
	closing  bool // Close/Kill began: a later exit is expected
	deathErr error

	exited     chan struct{} // process reaped
	exitStatus string
	stderrDone chan struct{}
	readerDone chan struct{}
	done       chan struct{} // engine unusable; deathErr set
}

// startEngine spawns argv with three pipes of our own (so reaping the process never races
// with reading its output) and starts the reader goroutines.
func startEngine(argv []string, onEvent func(json.RawMessage)) (*engine, error) {
	if len(argv) == 0 {
		return nil, ErrEngineNotFound
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, &EngineError{Op: "start", Err: err}
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, &EngineError{Op: "start", Err: err}
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		return nil, &EngineError{Op: "start", Err: err}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	startErr := cmd.Start()
	// The child has its copies; ours must go so EOF reaches each side when the other ends.
	inR.Close()
	outW.Close()
	errW.Close()
	if startErr != nil {
		inW.Close()
		outR.Close()
		errR.Close()
		if errors.Is(startErr, exec.ErrNotFound) || errors.Is(startErr, os.ErrNotExist) {
			return nil, fmt.Errorf("%w (%v)", ErrEngineNotFound, startErr)
		}
		return nil, &EngineError{Op: "start", Err: startErr}
	}
	e := &engine{
		cmd:        cmd,
		stdin:      inW,
		stdout:     outR,
		onEvent:    onEvent,
		pending:    make(map[uint64]*pendingCall),
		exited:     make(chan struct{}),
		stderrDone: make(chan struct{}),
		readerDone: make(chan struct{}),
		done:       make(chan struct{}),
	}
	go e.stderr.drain(errR, e.stderrDone)
	go e.reap()
	go e.readLoop()
	return e, nil
}

func (e *engine) reap() {
	err := e.cmd.Wait()
	if e.cmd.ProcessState != nil {
		e.exitStatus = e.cmd.ProcessState.String()
	} else if err != nil {
		e.exitStatus = err.Error()
	}
	close(e.exited)
	// Normally stdout reaches EOF with the process; if something else still holds it,
	// stop waiting for it so pending calls learn of the exit.
	select {
	case <-e.readerDone:
	case <-time.After(pipeGrace):
		e.stdout.Close()
	}
}

func (e *engine) readLoop() {
	defer close(e.readerDone)
	r := bufio.NewReaderSize(e.stdout, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			e.dispatch(line)
		}
		if err != nil {
			break
		}
	}
	e.shutdown()
}

// dispatch routes one engine line: a reply to its pending call, a request-scoped
// notification to its call's notify, an `event` to onEvent. Non-JSON lines are skipped.
func (e *engine) dispatch(line []byte) {
	var msg incoming
	if err := json.Unmarshal(line, &msg); err != nil {
		return
	}
	if msg.Method == "" {
		id, ok := parseID(msg.ID)
		if !ok {
			return // a reply without a usable id cannot be matched to anything
		}
		e.mu.Lock()
		pc := e.pending[id]
		delete(e.pending, id)
		e.mu.Unlock()
		if pc != nil {
			pc.reply <- msg
		}
		return
	}
	if msg.Method == "event" {
		if e.onEvent != nil {
			e.onEvent(msg.Params)
		}
		return
	}
	var scoped struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(msg.Params, &scoped) != nil {
		return
	}
	id, ok := parseID(scoped.ID)
	if !ok {
		return
	}
	e.mu.Lock()
	pc := e.pending[id]
	e.mu.Unlock()
	if pc != nil && pc.notify != nil {
		pc.notify(msg.Method, msg.Params)
	}
}

func parseID(raw json.RawMessage) (uint64, bool) {
	if len(raw) == 0 || raw[0] < '0' || raw[0] > '9' {
		return 0, false
	}
	id, err := strconv.ParseUint(string(raw), 10, 64)
	return id, err == nil
}

// shutdown runs once stdout ended: it waits (boundedly) for the exit status and the rest of
// stderr, then fails every pending call with one error that carries both.
func (e *engine) shutdown() {
	select {
	case <-e.exited:
	case <-time.After(pipeGrace):
		// stdout is gone but the process lingers: it can no longer answer anyone.
		_ = e.cmd.Process.Kill()
		<-e.exited
	}
	select {
	case <-e.stderrDone:
	case <-time.After(pipeGrace):
	}
	e.mu.Lock()
	var cause error = ErrEngineExited
	if e.closing {
		cause = ErrClientClosed
	}
	e.deathErr = &EngineError{ExitStatus: e.exitStatus, Stderr: e.stderr.String(), Err: cause}
	pending := e.pending
	e.pending = map[uint64]*pendingCall{}
	e.mu.Unlock()
	close(e.done)
	_ = pending // their waiters select on e.done
}

// failure returns the error for a call that found the engine gone.
func (e *engine) failure(op string) error {
	var ee *EngineError
	if errors.As(e.deathErr, &ee) {
		copied := *ee
		copied.Op = op
		return &copied
	}
	return e.deathErr
}

func (e *engine) write(msg outgoing) error {
	line, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	e.writeMu.Lock()
	_, err = e.stdin.Write(line)
	e.writeMu.Unlock()
	if err == nil {
		return nil
	}
	if errors.Is(err, os.ErrClosed) {
		return ErrClientClosed // we closed stdin ourselves (Close, Kill)
	}
	// A failed write means the engine is going away: report that, with its stderr.
	select {
	case <-e.done:
		return e.failure(msg.Method)
	case <-time.After(writeBound):
		return &EngineError{Op: msg.Method, Stderr: e.stderr.String(), Err: fmt.Errorf("write to engine: %w", err)}
	}
}

// begin registers a call, sends it and returns its id; the reply is collected by await.
func (e *engine) begin(method string, params interface{}, notify notifyFunc) (uint64, *pendingCall, error) {
	e.mu.Lock()
	select {
	case <-e.done:
		e.mu.Unlock()
		return 0, nil, e.failure(method)
	default:
	}
	if e.closing && method != "close" {
		e.mu.Unlock()
		return 0, nil, ErrClientClosed
	}
	e.nextID++
	id := e.nextID
	pc := &pendingCall{method: method, notify: notify, reply: make(chan incoming, 1)}
	e.pending[id] = pc
	e.mu.Unlock()
	if err := e.write(outgoing{JSONRPC: "2.0", Method: method, Params: params, ID: &id}); err != nil {
		e.forget(id)
		return 0, nil, err
	}
	return id, pc, nil
}

func (e *engine) forget(id uint64) {
	e.mu.Lock()
	delete(e.pending, id)
	e.mu.Unlock()
}

// await waits for the reply of call id: a reply, the engine's end, or ctx (then `cancel`).
func (e *engine) await(ctx context.Context, id uint64, pc *pendingCall) (json.RawMessage, error) {
	select {
	case msg := <-pc.reply:
		return replyResult(msg)
	case <-ctx.Done():
		e.forget(id)
		e.cancel(id)
		return nil, fmt.Errorf("%s cancelled: %w", pc.method, ctx.Err())
	case <-e.done:
		select {
		case msg := <-pc.reply:
			return replyResult(msg)
		default:
			return nil, e.failure(pc.method)
		}
	}
}

func replyResult(msg incoming) (json.RawMessage, error) {
	if msg.Error != nil {
		return nil, &RPCError{Code: msg.Error.Code, Message: msg.Error.Message}
	}
	if len(msg.Result) == 0 || string(msg.Result) == "null" {
		return json.RawMessage("{}"), nil
	}
	return msg.Result, nil
}

// call sends a request and waits for its reply.
func (e *engine) call(ctx context.Context, method string, params interface{}, notify notifyFunc) (json.RawMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s cancelled: %w", method, err)
	}
	id, pc, err := e.begin(method, params, notify)
	if err != nil {
		return nil, err
	}
	return e.await(ctx, id, pc)
}

// cancel asks the engine to cancel request id; its own reply is not awaited (the reader
// drops replies to ids nobody waits for).
func (e *engine) cancel(id uint64) {
	e.mu.Lock()
	select {
	case <-e.done:
		e.mu.Unlock()
		return
	default:
	}
	e.nextID++
	cid := e.nextID
	e.mu.Unlock()
	_ = e.write(outgoing{JSONRPC: "2.0", Method: "cancel", Params: map[string]uint64{"id": id}, ID: &cid})
}

// notify sends an input message (stdin, eof, resize): a true notification, never answered.
func (e *engine) notify(method string, params interface{}) error {
	select {
	case <-e.done:
		return e.failure(method)
	default:
	}
	return e.write(outgoing{JSONRPC: "2.0", Method: method, Params: params})
}

func (e *engine) markClosing() {
	e.mu.Lock()
	e.closing = true
	e.mu.Unlock()
}

// closeStdin tells the engine no more requests come; it then ends (an attached engine
// detaches, an owning engine stops its sandbox).
func (e *engine) closeStdin() {
	e.writeMu.Lock()
	_ = e.stdin.Close()
	e.writeMu.Unlock()
}

// waitExit waits up to timeout for the process to exit, then kills it.
func (e *engine) waitExit(timeout time.Duration) (killed bool) {
	select {
	case <-e.exited:
		return false
	case <-time.After(timeout):
		_ = e.cmd.Process.Kill()
		<-e.exited
		return true
	}
}

var _ io.Writer = (*stderrTail)(nil)
