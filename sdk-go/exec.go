package sdk

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
)

// ExecResult is the outcome of a buffered command. A non-zero ExitCode is not an error;
// 128+N means the command was killed by signal N.
type ExecResult struct {
	ExitCode   int
	Stdout     string
	Stderr     string
	DurationMS int64
	// StdoutTruncated / StderrTruncated: the engine dropped output beyond its buffer limit.
	StdoutTruncated bool
	StderrTruncated bool
}

// ExecStreamResult is the outcome of ExecStream (the output went to the writers).
type ExecStreamResult struct {
	ExitCode   int
	DurationMS int64
}

// ExecPipeResult is the outcome of ExecPipe or a Process.
type ExecPipeResult struct {
	ExitCode   int
	DurationMS int64
}

// ExecOptions are the optional settings of ExecWithOptions and Start.
type ExecOptions struct {
	// WorkingDir defaults to the image WORKDIR, else the workspace (with mounts), else /.
	WorkingDir string
	// User is uid, uid:gid or a user name; default the image's.
	User string
	// Env adds variables for this command only.
	Env map[string]string
	// OnStdout / OnStderr receive output chunks as they arrive (on the client's reader
	// goroutine: keep them short). ExecWithOptions still returns the whole output.
	OnStdout func(chunk []byte)
	OnStderr func(chunk []byte)
}

type execParams struct {
	Command    string            `json:"command"`
	WorkingDir string            `json:"working_dir,omitempty"`
	User       string            `json:"user,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
}

func (o *ExecOptions) params(command string) execParams {
	p := execParams{Command: command}
	if o != nil {
		p.WorkingDir, p.User, p.Env = o.WorkingDir, o.User, o.Env
	}
	return p
}

// Exec runs command (`sh -c`) and returns its buffered output. Cancelling ctx kills it.
func (c *Client) Exec(ctx context.Context, command string) (*ExecResult, error) {
	return c.ExecWithOptions(ctx, command, nil)
}

// ExecWithDir is Exec in workingDir.
func (c *Client) ExecWithDir(ctx context.Context, command, workingDir string) (*ExecResult, error) {
	return c.ExecWithOptions(ctx, command, &ExecOptions{WorkingDir: workingDir})
}

// ExecWithOptions is Exec with options; with OnStdout/OnStderr the output is streamed to
// them as it comes and also returned whole.
func (c *Client) ExecWithOptions(ctx context.Context, command string, opts *ExecOptions) (*ExecResult, error) {
	if opts != nil && (opts.OnStdout != nil || opts.OnStderr != nil) {
		var stdout, stderr bytes.Buffer
		res, err := c.execStream(ctx, "exec_stream", opts.params(command),
			teeFunc(&stdout, opts.OnStdout), teeFunc(&stderr, opts.OnStderr))
		if err != nil {
			return nil, err
		}
		return &ExecResult{ExitCode: res.ExitCode, DurationMS: res.DurationMS,
			Stdout: stdout.String(), Stderr: stderr.String()}, nil
	}
	raw, err := c.eng.call(ctx, "exec", opts.params(command), nil)
	if err != nil {
		return nil, err
	}
	var res struct {
		ExitCode        int    `json:"exit_code"`
		Stdout          string `json:"stdout"`
		Stderr          string `json:"stderr"`
		DurationMS      int64  `json:"duration_ms"`
		StdoutTruncated bool   `json:"stdout_truncated"`
		StderrTruncated bool   `json:"stderr_truncated"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("exec: unexpected result: %w", err)
	}
	stdout, err := base64.StdEncoding.DecodeString(res.Stdout)
	if err != nil {
		return nil, fmt.Errorf("exec: bad stdout encoding: %w", err)
	}
	stderr, err := base64.StdEncoding.DecodeString(res.Stderr)
	if err != nil {
		return nil, fmt.Errorf("exec: bad stderr encoding: %w", err)
	}
	return &ExecResult{ExitCode: res.ExitCode, Stdout: string(stdout), Stderr: string(stderr),
		DurationMS: res.DurationMS, StdoutTruncated: res.StdoutTruncated, StderrTruncated: res.StderrTruncated}, nil
}

func teeFunc(buf *bytes.Buffer, fn func([]byte)) func([]byte) {
	return func(chunk []byte) {
		buf.Write(chunk)
		if fn != nil {
			fn(chunk)
		}
	}
}

// ExecStream runs command and writes its output to stdout/stderr (nil discards) as it comes.
func (c *Client) ExecStream(ctx context.Context, command string, stdout, stderr io.Writer) (*ExecStreamResult, error) {
	return c.ExecStreamWithDir(ctx, command, "", stdout, stderr)
}

// ExecStreamWithDir is ExecStream in workingDir.
func (c *Client) ExecStreamWithDir(ctx context.Context, command, workingDir string, stdout, stderr io.Writer) (*ExecStreamResult, error) {
	return c.execStream(ctx, "exec_stream", execParams{Command: command, WorkingDir: workingDir},
		writerFunc(stdout), writerFunc(stderr))
}

func writerFunc(w io.Writer) func([]byte) {
	if w == nil {
		return nil
	}
	return func(chunk []byte) { _, _ = w.Write(chunk) }
}

func (c *Client) execStream(ctx context.Context, method string, params interface{}, onStdout, onStderr func([]byte)) (*ExecStreamResult, error) {
	raw, err := c.eng.call(ctx, method, params, outputRouter(method, onStdout, onStderr, nil))
	if err != nil {
		return nil, err
	}
	return decodeExit(method, raw)
}

func decodeExit(method string, raw json.RawMessage) (*ExecStreamResult, error) {
	var res ExecStreamResult
	var wire struct {
		ExitCode   int   `json:"exit_code"`
		DurationMS int64 `json:"duration_ms"`
	}
	if err := json.Unmarshal(raw, &wire); err != nil {
		return nil, fmt.Errorf("%s: unexpected result: %w", method, err)
	}
	res.ExitCode, res.DurationMS = wire.ExitCode, wire.DurationMS
	return &res, nil
}

// outputRouter decodes `<method>.stdout|stderr` chunks and reports `<method>.ready`.
func outputRouter(method string, onStdout, onStderr func([]byte), onReady func()) notifyFunc {
	return func(name string, params json.RawMessage) {
		switch name {
		case method + ".ready":
			if onReady != nil {
				onReady()
			}
			return
		case method + ".stdout", method + ".stderr":
		default:
			return
		}
		var chunk struct {
			Data string `json:"data"`
		}
		if json.Unmarshal(params, &chunk) != nil {
			return
		}
		data, err := base64.StdEncoding.DecodeString(chunk.Data)
		if err != nil {
			return
		}
		if name == method+".stdout" && onStdout != nil {
			onStdout(data)
		} else if name == method+".stderr" && onStderr != nil {
			onStderr(data)
		}
	}
}
