package sdk

import (
	"errors"
	"fmt"
	"strings"
)

// JSON-RPC error codes answered by the engine.
const (
	ErrCodeParseError     = -32700
	ErrCodeInvalidRequest = -32600
	ErrCodeMethodNotFound = -32601
	ErrCodeInvalidParams  = -32602
	ErrCodeInternal       = -32603
	ErrCodeVMFailed       = -32000
	ErrCodeExecFailed     = -32001
	ErrCodeFileFailed     = -32002
	ErrCodeCancelled      = -32003
)

var (
	// ErrEngineNotFound is returned (wrapped) when no engine binary can be located.
	ErrEngineNotFound = errors.New("matchlock engine not found: set Config.BinaryPath, the MATCHLOCK_BIN environment variable, or put matchlock on PATH")
	// ErrEngineExited is wrapped by every EngineError: the engine process is gone.
	ErrEngineExited = errors.New("matchlock engine exited")
	// ErrClientClosed is returned by calls made after Close (or Kill) began.
	ErrClientClosed = errors.New("matchlock client is closed")
	// ErrCloseTimeout is returned by Close when the engine did not exit in time and was killed.
	ErrCloseTimeout = errors.New("close timed out, process killed")
	// ErrNotSupported is wrapped when the engine lacks a feature (for example the volume CLI).
	ErrNotSupported = errors.New("not supported by this engine")
	// ErrVFSHookBlocked is wrapped when a local VFS action hook blocks an SDK file call.
	ErrVFSHookBlocked = errors.New("blocked by VFS hook")
)

// RPCError is an error answered by the engine for one request.
type RPCError struct {
	Code    int
	Message string
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("matchlock RPC error [%d]: %s", e.Code, e.Message)
}

// IsVMError reports a sandbox-level failure (-32000): no VM, boot failure, bad port forward.
func (e *RPCError) IsVMError() bool { return e.Code == ErrCodeVMFailed }

// IsExecError reports a command that could not be run (-32001); a non-zero exit is not one.
func (e *RPCError) IsExecError() bool { return e.Code == ErrCodeExecFailed }

// IsFileError reports a failed file operation (-32002).
func (e *RPCError) IsFileError() bool { return e.Code == ErrCodeFileFailed }

// IsCancelled reports a request ended by cancellation (-32003).
func (e *RPCError) IsCancelled() bool { return e.Code == ErrCodeCancelled }

// IsMethodNotFound reports an engine that does not know the method (-32601).
func (e *RPCError) IsMethodNotFound() bool { return e.Code == ErrCodeMethodNotFound }

// EngineError reports that the engine process failed to start or exited. Stderr holds the
// last bytes (up to 8 KiB) the engine wrote to its stderr, which usually says why.
type EngineError struct {
	// Op is what the client was doing ("exec", "start", ...).
	Op string
	// ExitStatus describes how the process ended ("exit status 1", "signal: killed"),
	// empty when it could not be started.
	ExitStatus string
	// Stderr is the tail of the engine's stderr.
	Stderr string
	// Err is the underlying cause.
	Err error
}

func (e *EngineError) Error() string {
	var b strings.Builder
	b.WriteString("matchlock engine")
	if e.Op != "" {
		b.WriteString(" (" + e.Op + ")")
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	if e.ExitStatus != "" {
		b.WriteString(" (" + e.ExitStatus + ")")
	}
	if last := lastLine(e.Stderr); last != "" {
		b.WriteString("; stderr: " + last)
	}
	return b.String()
}

func (e *EngineError) Unwrap() error { return e.Err }

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// ValidationError reports invalid sandbox options, naming the builder verb or field, before
// anything is sent to the engine.
type ValidationError struct {
	Option  string
	Message string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("invalid sandbox option %s: %s", e.Option, e.Message)
}

func invalid(option, format string, args ...interface{}) error {
	return &ValidationError{Option: option, Message: fmt.Sprintf(format, args...)}
}
