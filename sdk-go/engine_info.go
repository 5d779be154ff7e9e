package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Version asks the engine for its version (no sandbox needed).
func (c *Client) Version(ctx context.Context) (*EngineVersion, error) {
	raw, err := c.eng.call(ctx, "version", nil, nil)
	if err != nil {
		return nil, err
	}
	var v EngineVersion
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("version: unexpected result: %w", err)
	}
	return &v, nil
}

// SetTimeout arms (or with 0 clears) an expiry: when it passes, the sandbox closes for every
// client. It returns the expiry time, nil when cleared.
func (c *Client) SetTimeout(ctx context.Context, seconds int) (*time.Time, error) {
	if seconds < 0 {
		return nil, invalid("SetTimeout", "seconds must be >= 0, got %d", seconds)
	}
	raw, err := c.eng.call(ctx, "set_timeout", map[string]int{"timeout_seconds": seconds}, nil)
	if err != nil {
		return nil, err
	}
	var res struct {
		ExpiresAt *time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("set_timeout: unexpected result: %w", err)
	}
	return res.ExpiresAt, nil
}

// ListSandboxes starts an engine with cfg, asks it for every sandbox of its state
// directory, and stops it again.
func ListSandboxes(ctx context.Context, cfg Config) ([]SandboxInfo, error) {
	c, err := NewClient(cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close(0)
	raw, err := c.eng.call(ctx, "list_sandboxes", nil, nil)
	if err != nil {
		return nil, err
	}
	var res struct {
		Sandboxes []SandboxInfo `json:"sandboxes"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("list_sandboxes: unexpected result: %w", err)
	}
	return res.Sandboxes, nil
}
