package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Client owns one engine process and at most one sandbox. Safe for concurrent use.
type Client struct {
	cfg      Config
	eng      *engine
	attached bool

	mu       sync.Mutex
	vmID     string
	closed   bool
	netHooks *networkHookServer

	vfs    vfsHookState
	events *eventDispatcher
}

// NewClient starts `matchlock rpc` (or cfg.LaunchCommand). The engine runs until Close.
func NewClient(cfg Config) (*Client, error) {
	argv, err := engineArgv(cfg)
	if err != nil {
		return nil, err
	}
	return startClient(cfg, argv)
}

func startClient(cfg Config, argv []string) (*Client, error) {
	c := &Client{cfg: cfg}
	c.events = newEventDispatcher(c)
	eng, err := startEngine(argv, c.events.push)
	if err != nil {
		c.events.stop()
		return nil, err
	}
	c.eng = eng
	return c, nil
}

// Attach connects to the running sandbox vmID (`matchlock rpc --attach vmID`). Close on an
// attached client only detaches; Kill stops the sandbox for everyone.
func Attach(ctx context.Context, cfg Config, vmID string) (*Client, error) {
	if vmID == "" {
		return nil, invalid("Attach", "sandbox id is required")
	}
	argv, err := engineArgv(cfg, "--attach", vmID)
	if err != nil {
		return nil, err
	}
	c, err := startClient(cfg, argv)
	if err != nil {
		return nil, err
	}
	c.attached = true
	c.vmID = vmID
	// Probe the session so a wrong id fails here (the engine exits) and not on first use.
	// An engine that predates `version` answers "method not found", which proves it is up.
	if _, err := c.Version(ctx); err != nil {
		var rpcErr *RPCError
		if !errors.As(err, &rpcErr) || !rpcErr.IsMethodNotFound() {
			_ = c.Close(0)
			return nil, err
		}
	}
	return c, nil
}

// VMID returns the sandbox id, or "" before a successful Create.
func (c *Client) VMID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.vmID
}

// EngineStderr returns the last bytes (up to 8 KiB) the engine wrote to stderr.
func (c *Client) EngineStderr() string { return c.eng.stderr.String() }

// Create validates opts, boots the sandbox and returns its id. If applying PortForwards
// fails after the boot, the id is returned together with the error so the caller can clean up.
func (c *Client) CreateContext(ctx context.Context, opts CreateOptions) (string, error) {
	plan, err := planCreate(opts)
	if err != nil {
		return "", err
	}
	var server *networkHookServer
	socket := ""
	if len(plan.networkHooks) > 0 {
		if server, err = startNetworkHookServer(plan.networkHooks); err != nil {
			return "", fmt.Errorf("start network hook callback server: %w", err)
		}
		socket = server.socket
	}
	raw, err := c.eng.call(ctx, "create", createParams(opts, plan, socket), nil)
	if err != nil {
		server.stop()
		return "", err
	}
	var res struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &res); err != nil || res.ID == "" {
		server.stop()
		return "", fmt.Errorf("create: unexpected result %s", raw)
	}
	c.mu.Lock()
	previous := c.netHooks
	c.vmID, c.netHooks = res.ID, server
	c.mu.Unlock()
	previous.stop()
	c.vfs.set(plan.vfs)
	if len(opts.PortForwards) > 0 {
		if _, err := c.portForward(ctx, opts.PortForwardAddresses, opts.PortForwards); err != nil {
			return res.ID, err
		}
	}
	return res.ID, nil
}

// Launch is Create with the image's ENTRYPOINT/CMD started detached.
func (c *Client) LaunchContext(ctx context.Context, b *SandboxBuilder) (string, error) {
	opts := b.Options()
	opts.LaunchEntrypoint = true
	return c.CreateContext(ctx, opts)
}

// Close stops the sandbox and the engine: it sends `close` (graceful deadline timeout,
// 0 means 2 s), closes the engine's stdin and waits up to timeout for it to exit before
// killing it (then ErrCloseTimeout). On an attached client it only detaches. Idempotent.
func (c *Client) Close(timeout time.Duration) error {
	return c.shutdown(timeout, !c.attached)
}

// Kill stops the sandbox even on an attached client (for everyone attached to it), then
// ends this client as Close does.
func (c *Client) Kill(timeout time.Duration) error {
	return c.shutdown(timeout, true)
}

func (c *Client) shutdown(timeout time.Duration, sendClose bool) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	server := c.netHooks
	c.netHooks = nil
	c.mu.Unlock()

	c.vfs.set(compiledVFS{})
	server.stop()
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	if sendClose {
		// Bounded: a close stuck behind a stream must not hang the caller.
		ctx, cancel := context.WithTimeout(context.Background(), timeout+5*time.Second)
		_, _ = c.eng.call(ctx, "close", map[string]interface{}{"timeout_seconds": timeout.Seconds()}, nil)
		cancel()
	}
	c.eng.markClosing()
	c.eng.closeStdin()
	killed := c.eng.waitExit(timeout)
	<-c.eng.done
	c.events.stop()
	if killed {
		return fmt.Errorf("%w after %s", ErrCloseTimeout, timeout)
	}
	return nil
}
