package sdk

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// Go os.FileMode type bits as carried in file modes on the wire.
const (
	modeDir     = 1 << 31
	modeSymlink = 1 << 27
)

// WriteFile writes content to path in the guest (mode 0644), creating parent directories.
func (c *Client) WriteFile(ctx context.Context, path string, content []byte) error {
	return c.WriteFileMode(ctx, path, content, 0o644)
}

// WriteFileMode writes content with the given permission bits.
func (c *Client) WriteFileMode(ctx context.Context, path string, content []byte, mode uint32) error {
	if err := c.checkActionHooks(ctx, VFSHookOpWrite, path, len(content), mode); err != nil {
		return err
	}
	content, err := c.applyMutateHooks(ctx, path, content, mode)
	if err != nil {
		return err
	}
	_, err = c.eng.call(ctx, "write_file", map[string]interface{}{
		"path": path, "content": base64.StdEncoding.EncodeToString(content), "mode": mode,
	}, nil)
	return err
}

// ReadFile returns the content of a regular guest file (at most 16 MiB).
func (c *Client) ReadFile(ctx context.Context, path string) ([]byte, error) {
	if err := c.checkActionHooks(ctx, VFSHookOpRead, path, 0, 0); err != nil {
		return nil, err
	}
	raw, err := c.eng.call(ctx, "read_file", map[string]string{"path": path}, nil)
	if err != nil {
		return nil, err
	}
	var res struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("read_file: unexpected result: %w", err)
	}
	return base64.StdEncoding.DecodeString(res.Content)
}

type wireFileInfo struct {
	Name      string `json:"name"`
	Size      int64  `json:"size"`
	Mode      uint32 `json:"mode"`
	ModTime   string `json:"mod_time"`
	IsDir     bool   `json:"is_dir"`
	IsSymlink *bool  `json:"is_symlink"`
}

func (w wireFileInfo) info() FileInfo {
	fi := FileInfo{Name: w.Name, Size: w.Size, Mode: w.Mode, IsDir: w.IsDir, IsSymlink: w.Mode&modeSymlink != 0}
	if w.IsSymlink != nil {
		fi.IsSymlink = *w.IsSymlink
	}
	if t, err := time.Parse(time.RFC3339Nano, w.ModTime); err == nil && t.Year() > 1 {
		fi.ModTime = t
	}
	return fi
}

// ListFiles lists a guest directory.
func (c *Client) ListFiles(ctx context.Context, path string) ([]FileInfo, error) {
	if err := c.checkActionHooks(ctx, VFSHookOpReadDir, path, 0, 0); err != nil {
		return nil, err
	}
	raw, err := c.eng.call(ctx, "list_files", map[string]string{"path": path}, nil)
	if err != nil {
		return nil, err
	}
	var res struct {
		Files []wireFileInfo `json:"files"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("list_files: unexpected result: %w", err)
	}
	files := make([]FileInfo, 0, len(res.Files))
	for _, f := range res.Files {
		files = append(files, f.info())
	}
	return files, nil
}

// Stat describes path without following a final symlink; nil (and no error) when it does
// not exist.
func (c *Client) Stat(ctx context.Context, path string) (*FileInfo, error) {
	raw, err := c.eng.call(ctx, "stat_file", map[string]string{"path": path}, nil)
	if err != nil {
		return nil, err
	}
	var res struct {
		Exists bool `json:"exists"`
		wireFileInfo
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("stat_file: unexpected result: %w", err)
	}
	if !res.Exists {
		return nil, nil
	}
	fi := res.wireFileInfo.info()
	if res.Mode&modeDir != 0 {
		fi.IsDir = true
	}
	return &fi, nil
}

// Exists reports whether path exists in the guest.
func (c *Client) Exists(ctx context.Context, path string) (bool, error) {
	fi, err := c.Stat(ctx, path)
	return fi != nil, err
}

// MkdirOptions tunes Mkdir; nil means mode 0755 with missing parents created.
type MkdirOptions struct {
	// Mode is the permission bits (0 = 0755).
	Mode uint32
	// NoParents fails when the parent does not exist (like mkdir without -p).
	NoParents bool
}

// Mkdir creates a guest directory.
func (c *Client) Mkdir(ctx context.Context, path string, opts *MkdirOptions) error {
	mode, parents := uint32(0o755), true
	if opts != nil {
		if opts.Mode != 0 {
			mode = opts.Mode
		}
		parents = !opts.NoParents
	}
	_, err := c.eng.call(ctx, "make_dir", map[string]interface{}{"path": path, "mode": mode, "parents": parents}, nil)
	return err
}

// RemoveFile deletes a guest file or empty directory; with recursive, a whole tree.
// (Remove, without arguments, deletes the stopped sandbox's state, as in the original SDK.)
func (c *Client) RemoveFile(ctx context.Context, path string, recursive bool) error {
	_, err := c.eng.call(ctx, "remove_file", map[string]interface{}{"path": path, "recursive": recursive}, nil)
	return err
}

// Rename moves a guest file or directory.
func (c *Client) Rename(ctx context.Context, oldPath, newPath string) error {
	_, err := c.eng.call(ctx, "rename_file", map[string]string{"old_path": oldPath, "new_path": newPath}, nil)
	return err
}
