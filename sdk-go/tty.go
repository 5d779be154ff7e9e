package sdk

import (
	"context"
	"io"
)

// ExecInteractiveOptions configures ExecInteractive.
type ExecInteractiveOptions struct {
	WorkingDir string
	User       string
	// Rows and Cols size the terminal (default 24x80).
	Rows uint16
	Cols uint16
	// Stdin is typed into the terminal (nil: end-of-file right away).
	Stdin io.Reader
	// Stdout receives the terminal output (stdout and stderr merged).
	Stdout io.Writer
	// Resize delivers new [rows, cols] sizes; it is read until closed or the command ends.
	Resize <-chan [2]uint16
}

// ExecInteractiveResult is the outcome of ExecInteractive.
type ExecInteractiveResult struct {
	ExitCode   int
	DurationMS int64
}

type ttyParams struct {
	Command    string `json:"command"`
	WorkingDir string `json:"working_dir,omitempty"`
	User       string `json:"user,omitempty"`
	Rows       uint16 `json:"rows"`
	Cols       uint16 `json:"cols"`
}

// ExecInteractive runs command on a pseudo-terminal (exec_tty).
func (c *Client) ExecInteractive(ctx context.Context, command string, opts *ExecInteractiveOptions) (*ExecInteractiveResult, error) {
	if opts == nil {
		opts = &ExecInteractiveOptions{}
	}
	params := ttyParams{Command: command, WorkingDir: opts.WorkingDir, User: opts.User, Rows: opts.Rows, Cols: opts.Cols}
	if params.Rows == 0 {
		params.Rows = 24
	}
	if params.Cols == 0 {
		params.Cols = 80
	}
	s, err := c.startSession(ctx, "exec_tty", params, writerFunc(opts.Stdout), nil, nil)
	if err != nil {
		return nil, err
	}
	go s.pumpInput(opts.Stdin)
	if opts.Resize != nil {
		go func() {
			for {
				select {
				case size, ok := <-opts.Resize:
					if !ok {
						return
					}
					if size[0] > 0 && size[1] > 0 {
						_ = s.resize(size[0], size[1])
					}
				case <-s.done:
					return
				}
			}
		}()
	}
	res, err := s.wait()
	if err != nil {
		return nil, err
	}
	return &ExecInteractiveResult{ExitCode: res.ExitCode, DurationMS: res.DurationMS}, nil
}
