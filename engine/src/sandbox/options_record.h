// The sandbox configuration as recorded in the state database (config_json), for `inspect`.
// Only what is safe to show: secret values never enter SandboxOptions' recorded form — when
// secrets exist they are recorded by name and hosts only.
#pragma once

#include <string>

#include "sandbox/sandbox_options.h"

namespace matchlock::sandbox {

// {"image", "hostname", "resources": {cpus, memory_mb, disk_size_mb}, "env": {K: V}, "user",
//  "working_dir", "entrypoint", "cmd", "privileged", "network": {mode, ...},
//  "ports": [{address, host_port, guest_port}] (run -p; host_port 0 = chosen at bind time),
//  "vfs": {...}, "disks": [{host_path, guest_path, readonly, volume?}] (--disk, extra_disks)}
// network.secrets is [{name, hosts}] (no value, no placeholder); network.plugins holds the
// plugin flags that were given (paths, routes, budget, labels; rpc rules as a flag only).
std::string options_record_json(const SandboxOptions& options);

}  // namespace matchlock::sandbox
