package sdk

import (
	"math"
	"net"
	"strings"
)

// CreateOptions configures a sandbox. Build it with New(image).With…() or fill it directly.
type CreateOptions struct {
	// Image is the image reference (required), e.g. "alpine:latest".
	Image string
	// Privileged skips the in-guest hardening (seccomp, capability drop, no_new_privs).
	Privileged bool
	// CPUs is the vCPU count (fractions are rounded up by the engine); 0 = 1.
	CPUs float64
	// MemoryMB is the guest memory; 0 = 512.
	MemoryMB int
	// DiskSizeMB is the root disk size; 0 = 5120.
	DiskSizeMB int
	// TimeoutSeconds is recorded with the sandbox; 0 = 300. Use Client.SetTimeout to arm
	// an expiry that closes the sandbox.
	TimeoutSeconds int
	// AllowedHosts restricts egress to these host patterns ("*.example.com"); empty = all.
	AllowedHosts []string
	// AddHosts are static /etc/hosts entries.
	AddHosts []HostIPMapping
	// BlockPrivateIPs with BlockPrivateIPsSet overrides private-range blocking (default on).
	BlockPrivateIPs    bool
	BlockPrivateIPsSet bool
	// NoNetwork gives the guest no network interface.
	NoNetwork bool
	// ForceInterception turns the HTTP(S) interception proxy on (needed by AllowListAdd).
	ForceInterception bool
	// NetworkInterception holds network hook rules.
	NetworkInterception *NetworkInterceptionConfig
	// Mounts maps guest paths (within Workspace) to mounts.
	Mounts map[string]MountConfig
	// Env is non-secret environment for every command.
	Env map[string]string
	// Secrets are injected by the proxy; the guest sees placeholders only.
	Secrets []Secret
	// Workspace is the guest directory the mounts live under (default /workspace).
	Workspace string
	// VFSInterception holds file hook rules.
	VFSInterception *VFSInterceptionConfig
	// DNSServers overrides the guest resolvers.
	DNSServers []string
	// Hostname overrides the guest hostname (default: the sandbox id).
	Hostname string
	// NetworkMTU overrides the guest MTU (default 1500).
	NetworkMTU int
	// PortForwards are applied with a port_forward call right after create.
	PortForwards []PortForward
	// PortForwardAddresses are the host addresses PortForwards bind (default 127.0.0.1).
	PortForwardAddresses []string
	// ImageConfig overrides the image's user, workdir, entrypoint, cmd and env.
	ImageConfig *ImageConfig
	// LaunchEntrypoint starts the image's ENTRYPOINT/CMD detached (set by Launch).
	LaunchEntrypoint bool
}

// validate checks options before anything is sent; errors name the builder verb.
func (o *CreateOptions) validate() error {
	if strings.TrimSpace(o.Image) == "" {
		return invalid("New", "image is required")
	}
	if math.IsNaN(o.CPUs) || math.IsInf(o.CPUs, 0) || o.CPUs < 0 {
		return invalid("WithCPUs", "cpus must be a finite number > 0, got %v", o.CPUs)
	}
	if o.MemoryMB < 0 {
		return invalid("WithMemory", "memory must be > 0 MB, got %d", o.MemoryMB)
	}
	if o.DiskSizeMB < 0 {
		return invalid("WithDiskSize", "disk size must be > 0 MB, got %d", o.DiskSizeMB)
	}
	if o.TimeoutSeconds < 0 {
		return invalid("WithTimeout", "timeout must be >= 0 seconds, got %d", o.TimeoutSeconds)
	}
	if o.NetworkMTU < 0 {
		return invalid("WithNetworkMTU", "network mtu must be > 0, got %d", o.NetworkMTU)
	}
	if o.NoNetwork && (len(o.AllowedHosts) > 0 || len(o.Secrets) > 0 || o.ForceInterception || o.NetworkInterception != nil) {
		return invalid("WithNoNetwork", "no network cannot be combined with allowed hosts, secrets, forced interception, or network interception rules")
	}
	for _, m := range o.AddHosts {
		if m.Host == "" || strings.ContainsAny(m.Host, " \t\r\n:") {
			return invalid("AddHost", "invalid host %q", m.Host)
		}
		if net.ParseIP(m.IP) == nil {
			return invalid("AddHost", "invalid ip %q for host %q", m.IP, m.Host)
		}
	}
	for _, s := range o.Secrets {
		if strings.TrimSpace(s.Name) == "" || strings.Contains(s.Name, "=") {
			return invalid("AddSecret", "invalid secret name %q", s.Name)
		}
		if s.Value == "" {
			return invalid("AddSecret", "secret %q has an empty value", s.Name)
		}
	}
	for _, pf := range o.PortForwards {
		if !validPort(pf.LocalPort) || !validPort(pf.RemotePort) {
			return invalid("WithPortForward", "ports must be 1-65535, got %d:%d", pf.LocalPort, pf.RemotePort)
		}
	}
	for guest, m := range o.Mounts {
		if !strings.HasPrefix(guest, "/") {
			return invalid("Mount", "guest path %q must be absolute", guest)
		}
		switch m.Type {
		case MountTypeMemory:
		case MountTypeHostFS, MountTypeOverlay:
			if m.HostPath == "" {
				return invalid("Mount", "%s mount at %q needs a host path", m.Type, guest)
			}
		default:
			return invalid("Mount", "unknown mount type %q at %q (memory, host_fs, overlay)", m.Type, guest)
		}
	}
	return nil
}

func validPort(p int) bool { return p >= 1 && p <= 65535 }

// createPlan is everything Create derives from the options before talking to the engine.
type createPlan struct {
	vfs          compiledVFS
	netWire      *wireNetworkInterception
	networkHooks map[string]networkHook
}

func planCreate(o CreateOptions) (createPlan, error) {
	var p createPlan
	if err := o.validate(); err != nil {
		return p, err
	}
	var err error
	if p.vfs, err = compileVFSHooks(o.VFSInterception); err != nil {
		return p, err
	}
	if p.netWire, p.networkHooks, err = compileNetworkHooks(o.NetworkInterception); err != nil {
		return p, err
	}
	return p, nil
}

// createParams builds the `create` params exactly as the original Go SDK sends them.
func createParams(o CreateOptions, plan createPlan, callbackSocket string) map[string]interface{} {
	params := map[string]interface{}{
		"image": o.Image,
		"resources": map[string]interface{}{
			"cpus":            orDefaultFloat(o.CPUs, DefaultCPUs),
			"memory_mb":       orDefault(o.MemoryMB, DefaultMemoryMB),
			"disk_size_mb":    orDefault(o.DiskSizeMB, DefaultDiskSizeMB),
			"timeout_seconds": orDefault(o.TimeoutSeconds, DefaultTimeoutSeconds),
		},
	}
	if o.Privileged {
		params["privileged"] = true
	}
	if o.LaunchEntrypoint {
		params["launch_entrypoint"] = true
	}
	if network := networkParams(o, plan.netWire, callbackSocket); network != nil {
		params["network"] = network
	}
	if len(o.Mounts) > 0 || o.Workspace != "" || plan.vfs.wire != nil {
		vfs := map[string]interface{}{}
		if len(o.Mounts) > 0 {
			vfs["mounts"] = o.Mounts
		}
		if o.Workspace != "" {
			vfs["workspace"] = o.Workspace
		}
		if plan.vfs.wire != nil {
			vfs["interception"] = plan.vfs.wire
		}
		params["vfs"] = vfs
	}
	if len(o.Env) > 0 {
		params["env"] = o.Env
	}
	if o.ImageConfig != nil {
		params["image_config"] = o.ImageConfig
	}
	return params
}

func networkParams(o CreateOptions, wire *wireNetworkInterception, callbackSocket string) map[string]interface{} {
	block, blockSet := o.BlockPrivateIPs, o.BlockPrivateIPsSet || o.BlockPrivateIPs
	needed := len(o.AllowedHosts) > 0 || len(o.AddHosts) > 0 || len(o.Secrets) > 0 ||
		len(o.DNSServers) > 0 || o.Hostname != "" || o.NetworkMTU > 0 || o.NoNetwork ||
		blockSet || o.ForceInterception || wire != nil
	if !needed {
		return nil
	}
	n := map[string]interface{}{}
	if o.NoNetwork {
		n["no_network"] = true
	} else {
		// A `network` object replaces the engine's defaults wholesale: keep private-range
		// blocking on unless the caller chose otherwise.
		if !blockSet {
			block = true
		}
		allowed := o.AllowedHosts
		if allowed == nil {
			allowed = []string{}
		}
		n["allowed_hosts"] = allowed
		n["block_private_ips"] = block
		if o.ForceInterception || wire != nil {
			n["intercept"] = true
		}
		if wire != nil {
			w := *wire
			w.CallbackSocket = callbackSocket
			n["interception"] = w
		}
		if len(o.Secrets) > 0 {
			secrets := map[string]interface{}{}
			for _, s := range o.Secrets {
				hosts := s.Hosts
				if hosts == nil {
					hosts = []string{}
				}
				secrets[s.Name] = map[string]interface{}{"value": s.Value, "hosts": hosts}
			}
			n["secrets"] = secrets
		}
		if o.NetworkMTU > 0 {
			n["mtu"] = o.NetworkMTU
		}
	}
	if len(o.AddHosts) > 0 {
		n["add_hosts"] = o.AddHosts
	}
	if len(o.DNSServers) > 0 {
		n["dns_servers"] = o.DNSServers
	}
	if o.Hostname != "" {
		n["hostname"] = o.Hostname
	}
	return n
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func orDefaultFloat(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}
