package sdk

// SandboxBuilder configures a sandbox fluently:
//
//	sb := sdk.New("alpine:latest").WithCPUs(2).WithMemory(1024).AllowHost("api.openai.com")
//	vmID, err := client.Launch(sb)
//
// Verbs record values only; they are checked (ValidationError naming the verb) by Validate,
// Create and Launch, before anything is sent to the engine.
type SandboxBuilder struct {
	opts CreateOptions
}

// New starts a builder for image.
func New(image string) *SandboxBuilder {
	return &SandboxBuilder{opts: CreateOptions{Image: image}}
}

// WithPrivileged skips the in-guest hardening.
func (b *SandboxBuilder) WithPrivileged() *SandboxBuilder { b.opts.Privileged = true; return b }

// WithCPUs sets the vCPU count.
func (b *SandboxBuilder) WithCPUs(cpus float64) *SandboxBuilder { b.opts.CPUs = cpus; return b }

// WithMemory sets the memory in MB.
func (b *SandboxBuilder) WithMemory(mb int) *SandboxBuilder { b.opts.MemoryMB = mb; return b }

// WithDiskSize sets the root disk size in MB.
func (b *SandboxBuilder) WithDiskSize(mb int) *SandboxBuilder { b.opts.DiskSizeMB = mb; return b }

// WithTimeout sets resources.timeout_seconds.
func (b *SandboxBuilder) WithTimeout(seconds int) *SandboxBuilder {
	b.opts.TimeoutSeconds = seconds
	return b
}

// WithWorkspace sets the guest directory the mounts live under.
func (b *SandboxBuilder) WithWorkspace(path string) *SandboxBuilder {
	b.opts.Workspace = path
	return b
}

// WithVFSInterception sets the file hook rules.
func (b *SandboxBuilder) WithVFSInterception(cfg *VFSInterceptionConfig) *SandboxBuilder {
	b.opts.VFSInterception = cfg
	return b
}

// WithNetworkInterception turns interception on; with a config it also installs its rules.
func (b *SandboxBuilder) WithNetworkInterception(cfg ...*NetworkInterceptionConfig) *SandboxBuilder {
	b.opts.ForceInterception = true
	if len(cfg) > 0 {
		b.opts.NetworkInterception = cfg[0]
	}
	return b
}

// WithEnv sets one non-secret environment variable.
func (b *SandboxBuilder) WithEnv(name, value string) *SandboxBuilder {
	if b.opts.Env == nil {
		b.opts.Env = map[string]string{}
	}
	b.opts.Env[name] = value
	return b
}

// WithEnvMap merges environment variables.
func (b *SandboxBuilder) WithEnvMap(env map[string]string) *SandboxBuilder {
	for k, v := range env {
		b.WithEnv(k, v)
	}
	return b
}

// AllowHost adds host patterns to the egress allow-list.
func (b *SandboxBuilder) AllowHost(hosts ...string) *SandboxBuilder {
	b.opts.AllowedHosts = append(b.opts.AllowedHosts, hosts...)
	return b
}

// AddHost adds a static /etc/hosts entry.
func (b *SandboxBuilder) AddHost(host, ip string) *SandboxBuilder {
	b.opts.AddHosts = append(b.opts.AddHosts, HostIPMapping{Host: host, IP: ip})
	return b
}

// BlockPrivateIPs blocks private address ranges (the default).
func (b *SandboxBuilder) BlockPrivateIPs() *SandboxBuilder { return b.WithBlockPrivateIPs(true) }

// WithBlockPrivateIPs sets private-range blocking explicitly.
func (b *SandboxBuilder) WithBlockPrivateIPs(enabled bool) *SandboxBuilder {
	b.opts.BlockPrivateIPs, b.opts.BlockPrivateIPsSet = enabled, true
	return b
}

// AllowPrivateIPs allows private address ranges.
func (b *SandboxBuilder) AllowPrivateIPs() *SandboxBuilder { return b.WithBlockPrivateIPs(false) }

// UnsetBlockPrivateIPs returns to the default.
func (b *SandboxBuilder) UnsetBlockPrivateIPs() *SandboxBuilder {
	b.opts.BlockPrivateIPs, b.opts.BlockPrivateIPsSet = false, false
	return b
}

// AddSecret registers a secret for hosts (none = any host).
func (b *SandboxBuilder) AddSecret(name, value string, hosts ...string) *SandboxBuilder {
	b.opts.Secrets = append(b.opts.Secrets, Secret{Name: name, Value: value, Hosts: hosts})
	return b
}

// WithDNSServers sets the guest resolvers.
func (b *SandboxBuilder) WithDNSServers(servers ...string) *SandboxBuilder {
	b.opts.DNSServers = append(b.opts.DNSServers, servers...)
	return b
}

// WithHostname sets the guest hostname.
func (b *SandboxBuilder) WithHostname(hostname string) *SandboxBuilder {
	b.opts.Hostname = hostname
	return b
}

// WithNetworkMTU sets the guest MTU.
func (b *SandboxBuilder) WithNetworkMTU(mtu int) *SandboxBuilder { b.opts.NetworkMTU = mtu; return b }

// WithNoNetwork gives the guest no network.
func (b *SandboxBuilder) WithNoNetwork() *SandboxBuilder { b.opts.NoNetwork = true; return b }

// WithPortForward forwards host localPort to remotePort in the sandbox after create.
func (b *SandboxBuilder) WithPortForward(localPort, remotePort int) *SandboxBuilder {
	b.opts.PortForwards = append(b.opts.PortForwards, PortForward{LocalPort: localPort, RemotePort: remotePort})
	return b
}

// WithPortForwardAddresses sets the host addresses the forwards bind.
func (b *SandboxBuilder) WithPortForwardAddresses(addresses ...string) *SandboxBuilder {
	b.opts.PortForwardAddresses = append(b.opts.PortForwardAddresses, addresses...)
	return b
}

// Mount adds a mount at guestPath.
func (b *SandboxBuilder) Mount(guestPath string, cfg MountConfig) *SandboxBuilder {
	if b.opts.Mounts == nil {
		b.opts.Mounts = map[string]MountConfig{}
	}
	b.opts.Mounts[guestPath] = cfg
	return b
}

// MountHostDir mounts a host directory read-write (the guest changes the host).
func (b *SandboxBuilder) MountHostDir(guestPath, hostPath string) *SandboxBuilder {
	return b.Mount(guestPath, MountConfig{Type: MountTypeHostFS, HostPath: hostPath})
}

// MountHostDirReadonly mounts a host directory read-only.
func (b *SandboxBuilder) MountHostDirReadonly(guestPath, hostPath string) *SandboxBuilder {
	return b.Mount(guestPath, MountConfig{Type: MountTypeHostFS, HostPath: hostPath, Readonly: true})
}

// MountMemory mounts an empty in-memory tree.
func (b *SandboxBuilder) MountMemory(guestPath string) *SandboxBuilder {
	return b.Mount(guestPath, MountConfig{Type: MountTypeMemory})
}

// MountOverlay mounts a copy-on-write view of a host path (the host is never changed).
func (b *SandboxBuilder) MountOverlay(guestPath, hostPath string) *SandboxBuilder {
	return b.Mount(guestPath, MountConfig{Type: MountTypeOverlay, HostPath: hostPath})
}

// WithUser runs commands as user (uid, uid:gid or name).
func (b *SandboxBuilder) WithUser(user string) *SandboxBuilder {
	b.imageConfig().User = user
	return b
}

// WithEntrypoint overrides the image entrypoint.
func (b *SandboxBuilder) WithEntrypoint(entrypoint ...string) *SandboxBuilder {
	b.imageConfig().Entrypoint = entrypoint
	return b
}

// WithImageConfig merges cfg's non-empty fields into the image config override.
func (b *SandboxBuilder) WithImageConfig(cfg *ImageConfig) *SandboxBuilder {
	if cfg == nil {
		return b
	}
	ic := b.imageConfig()
	if cfg.User != "" {
		ic.User = cfg.User
	}
	if cfg.WorkingDir != "" {
		ic.WorkingDir = cfg.WorkingDir
	}
	if cfg.Entrypoint != nil {
		ic.Entrypoint = append([]string(nil), cfg.Entrypoint...)
	}
	if cfg.Cmd != nil {
		ic.Cmd = append([]string(nil), cfg.Cmd...)
	}
	if cfg.Env != nil {
		ic.Env = copyStringMap(cfg.Env)
	}
	return b
}

func (b *SandboxBuilder) imageConfig() *ImageConfig {
	if b.opts.ImageConfig == nil {
		b.opts.ImageConfig = &ImageConfig{}
	}
	return b.opts.ImageConfig
}

// Validate checks the options as Create would, without talking to any engine.
func (b *SandboxBuilder) Validate() error {
	_, err := planCreate(b.opts)
	return err
}

// Options returns a deep copy of the collected options.
func (b *SandboxBuilder) Options() CreateOptions {
	o := b.opts
	o.AllowedHosts = append([]string(nil), o.AllowedHosts...)
	o.AddHosts = append([]HostIPMapping(nil), o.AddHosts...)
	o.DNSServers = append([]string(nil), o.DNSServers...)
	o.PortForwards = append([]PortForward(nil), o.PortForwards...)
	o.PortForwardAddresses = append([]string(nil), o.PortForwardAddresses...)
	o.Env = copyStringMap(o.Env)
	if o.Mounts != nil {
		mounts := make(map[string]MountConfig, len(o.Mounts))
		for k, v := range o.Mounts {
			mounts[k] = v
		}
		o.Mounts = mounts
	}
	o.Secrets = nil
	for _, s := range b.opts.Secrets {
		o.Secrets = append(o.Secrets, Secret{Name: s.Name, Value: s.Value, Hosts: append([]string(nil), s.Hosts...)})
	}
	if ic := b.opts.ImageConfig; ic != nil {
		copied := *ic
		copied.Entrypoint = append([]string(nil), ic.Entrypoint...)
		copied.Cmd = append([]string(nil), ic.Cmd...)
		copied.Env = copyStringMap(ic.Env)
		o.ImageConfig = &copied
	}
	return o
}

func copyStringMap(in map[string]string) map[string]string {
	if in == nil {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}
