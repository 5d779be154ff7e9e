package sdk

import "time"

// Mount types for MountConfig.Type.
const (
	MountTypeMemory  = "memory"
	MountTypeHostFS  = "host_fs"
	MountTypeOverlay = "overlay"
)

// Engine defaults the SDK fills into `create` resources, as the original Go SDK does.
const (
	DefaultCPUs           = 1
	DefaultMemoryMB       = 512
	DefaultDiskSizeMB     = 5120
	DefaultTimeoutSeconds = 300
)

// MountConfig is one VFS mount under the workspace.
type MountConfig struct {
	// Type is MountTypeMemory, MountTypeHostFS or MountTypeOverlay.
	Type string `json:"type"`
	// HostPath is the host directory or file (host_fs, overlay).
	HostPath string `json:"host_path,omitempty"`
	// Readonly makes the mount read-only in the guest.
	Readonly bool `json:"readonly,omitempty"`
}

// Secret is a value the guest never sees: it gets a placeholder environment variable NAME,
// and the engine's proxy substitutes the real value in HTTP requests to Hosts.
type Secret struct {
	Name  string
	Value string
	Hosts []string
}

// ImageConfig overrides the image's OCI configuration.
type ImageConfig struct {
	User       string            `json:"user,omitempty"`
	WorkingDir string            `json:"working_dir,omitempty"`
	Entrypoint []string          `json:"entrypoint,omitempty"`
	Cmd        []string          `json:"cmd,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
}

// HostIPMapping is a static /etc/hosts entry for the guest.
type HostIPMapping struct {
	Host string `json:"host"`
	IP   string `json:"ip"`
}

// PortForward maps a host port to a port inside the sandbox.
type PortForward struct {
	LocalPort  int `json:"local_port"`
	RemotePort int `json:"remote_port"`
}

// PortForwardBinding is one listener the engine bound.
type PortForwardBinding struct {
	Address    string `json:"address"`
	LocalPort  int    `json:"local_port"`
	RemotePort int    `json:"remote_port"`
}

// FileInfo describes a guest file. Mode carries Go os.FileMode type bits (directory 1<<31,
// symlink 1<<27), so os.FileMode(info.Mode) works as expected.
type FileInfo struct {
	Name      string
	Size      int64
	Mode      uint32
	IsDir     bool
	IsSymlink bool
	// ModTime is the modification time when the engine reports it (zero otherwise).
	ModTime time.Time
}

// VolumeInfo describes a named volume.
type VolumeInfo struct {
	Name string `json:"name"`
	Size string `json:"size"`
	Path string `json:"path"`
}

// AllowListUpdate is the result of AllowListAdd / AllowListDelete.
type AllowListUpdate struct {
	Added        []string
	Removed      []string
	AllowedHosts []string
}

// EngineVersion is the engine's own version.
type EngineVersion struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
}

// SandboxInfo is one sandbox known to the engine's state directory.
type SandboxInfo struct {
	ID        string    `json:"id"`
	State     string    `json:"state"`
	Image     string    `json:"image"`
	PID       int       `json:"pid,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}
