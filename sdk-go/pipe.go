package sdk

import (
	"context"
	"io"
)

// ExecPipe runs command with stdin fed from stdin (nil: empty) and its output written to
// stdout / stderr (nil discards) as it comes, without a terminal.
func (c *Client) ExecPipe(ctx context.Context, command string, stdin io.Reader, stdout, stderr io.Writer) (*ExecPipeResult, error) {
	return c.ExecPipeWithDir(ctx, command, "", stdin, stdout, stderr)
}

// ExecPipeWithDir is ExecPipe in workingDir.
func (c *Client) ExecPipeWithDir(ctx context.Context, command, workingDir string, stdin io.Reader, stdout, stderr io.Writer) (*ExecPipeResult, error) {
	s, err := c.startSession(ctx, "exec_pipe", execParams{Command: command, WorkingDir: workingDir},
		writerFunc(stdout), writerFunc(stderr), nil)
	if err != nil {
		return nil, err
	}
	go s.pumpInput(stdin)
	res, err := s.wait()
	if err != nil {
		return nil, err
	}
	return &ExecPipeResult{ExitCode: res.ExitCode, DurationMS: res.DurationMS}, nil
}

// Process is a command started with Start. Its methods are safe for concurrent use.
type Process struct {
	// Stdin feeds the command; Close sends end-of-file. Writes fail once it has exited.
	Stdin io.WriteCloser
	// Stdout and Stderr deliver the output (buffered without bound until read; EOF at exit).
	// They are nil when ExecOptions.OnStdout / OnStderr were given instead.
	Stdout io.Reader
	Stderr io.Reader

	s *session
}

// Start runs command in the background (exec_pipe). Cancelling ctx kills it, as Kill does.
func (c *Client) Start(ctx context.Context, command string, opts *ExecOptions) (*Process, error) {
	p := &Process{}
	var onStdout, onStderr func([]byte)
	var outBuf, errBuf *streamBuffer
	if opts != nil && opts.OnStdout != nil {
		onStdout = opts.OnStdout
	} else {
		outBuf = newStreamBuffer()
		onStdout, p.Stdout = outBuf.write, outBuf
	}
	if opts != nil && opts.OnStderr != nil {
		onStderr = opts.OnStderr
	} else {
		errBuf = newStreamBuffer()
		onStderr, p.Stderr = errBuf.write, errBuf
	}
	finish := func(err error) {
		if outBuf != nil {
			outBuf.closeWithError(nil)
		}
		if errBuf != nil {
			errBuf.closeWithError(nil)
		}
	}
	s, err := c.startSession(ctx, "exec_pipe", opts.params(command), onStdout, onStderr, finish)
	if err != nil {
		return nil, err
	}
	p.s = s
	p.Stdin = processStdin{s}
	return p, nil
}

// Wait waits for the command to exit. A killed or cancelled command returns an error
// (an *RPCError with IsCancelled, or the context's error).
func (p *Process) Wait() (*ExecPipeResult, error) {
	res, err := p.s.wait()
	if err != nil {
		return nil, err
	}
	return &ExecPipeResult{ExitCode: res.ExitCode, DurationMS: res.DurationMS}, nil
}

// Kill stops the command (its process group in the guest is killed); Wait then returns.
func (p *Process) Kill() error {
	p.s.kill()
	return nil
}

// Done is closed when the command has ended.
func (p *Process) Done() <-chan struct{} { return p.s.done }

type processStdin struct{ s *session }

func (w processStdin) Write(p []byte) (int, error) { return w.s.write(p) }
func (w processStdin) Close() error                { return w.s.closeInput() }
