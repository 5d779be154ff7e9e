package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// Remove deletes the state of this client's stopped sandbox (`matchlock rm ID`); call it
// after Close. It runs the engine binary from Config (BinaryPath, MATCHLOCK_BIN, PATH).
func (c *Client) RemoveContext(ctx context.Context) error {
	id := c.VMID()
	if id == "" {
		return nil // nothing was created
	}
	if _, err := c.runCLI(ctx, "rm", id); err != nil {
		return fmt.Errorf("remove %s: %w", id, err)
	}
	return nil
}

// VolumeCreate creates a named volume of sizeMB (`matchlock volume create`).
func (c *Client) VolumeCreateContext(ctx context.Context, name string, sizeMB int) (*VolumeInfo, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, invalid("VolumeCreate", "volume name is required")
	}
	if sizeMB <= 0 {
		return nil, invalid("VolumeCreate", "size must be > 0 MB, got %d", sizeMB)
	}
	out, err := c.runCLI(ctx, "volume", "create", name, "--size", strconv.Itoa(sizeMB), "--json")
	if err != nil {
		return nil, err
	}
	var info VolumeInfo
	if err := json.Unmarshal(bytes.TrimSpace(out), &info); err != nil || info.Path == "" {
		return nil, fmt.Errorf("volume create: unexpected output %q", out)
	}
	if info.Name == "" {
		info.Name = name
	}
	if info.Size == "" {
		info.Size = fmt.Sprintf("%.1f MB", float64(sizeMB))
	}
	return &info, nil
}

// VolumeList lists named volumes (`matchlock volume ls`).
func (c *Client) VolumeListContext(ctx context.Context) ([]VolumeInfo, error) {
	out, err := c.runCLI(ctx, "volume", "ls", "--json")
	if err != nil {
		return nil, err
	}
	var vols []VolumeInfo
	if err := json.Unmarshal(bytes.TrimSpace(out), &vols); err != nil {
		return nil, fmt.Errorf("volume ls: unexpected output %q", out)
	}
	return vols, nil
}

// VolumeRemove deletes a named volume (`matchlock volume rm`).
func (c *Client) VolumeRemoveContext(ctx context.Context, name string) error {
	if strings.TrimSpace(name) == "" {
		return invalid("VolumeRemove", "volume name is required")
	}
	_, err := c.runCLI(ctx, "volume", "rm", name)
	return err
}

// runCLI runs a non-RPC engine subcommand and returns its stdout.
func (c *Client) runCLI(ctx context.Context, args ...string) ([]byte, error) {
	bin, err := resolveBinary(c.cfg)
	if err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if strings.Contains(msg, fmt.Sprintf("unknown command %q", args[0])) {
			return nil, fmt.Errorf("matchlock %s: %w (the engine has no %q CLI command)", strings.Join(args[:2], " "), ErrNotSupported, args[0])
		}
		return nil, fmt.Errorf("matchlock %s: %v: %s", strings.Join(args, " "), err, msg)
	}
	return stdout.Bytes(), nil
}
