// What a sandbox is created with. Filled by the CLI (`run` flags) and by rpc (`create` params);
// both validate their input into this one structure, so there is one code path below them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sandbox/disk_spec.h"
#include "sandbox/mount_spec.h"
#include "sandbox/plugin_options.h"
#include "sandbox/port_forward_spec.h"
#include "sandbox/secret_spec.h"

namespace matchlock::sandbox {

struct SandboxOptions {
  std::string image;
  double cpus = 1.0;
  uint64_t memory_mib = 512;
  uint64_t disk_size_mib = 5120;
  std::string hostname;                                // empty: the sandbox id
  std::vector<std::string> env;                        // "K=V", override the image's ENV
  std::optional<std::string> user;                     // overrides the image USER
  std::optional<std::string> workdir;                  // overrides the image WORKDIR
  std::optional<std::vector<std::string>> entrypoint;  // overrides ENTRYPOINT ([] clears it)
  std::optional<std::vector<std::string>> cmd;         // overrides CMD
  bool privileged = false;
  bool no_network = false;
  std::vector<std::string> dns_servers = {"8.8.8.8", "8.8.4.4"};
  int mtu = 1500;                                // guest link MTU (576..65520)
  std::vector<std::string> allowed_hosts;        // --allow-host patterns: non-empty = interception
  std::vector<std::string> allow_private_hosts;  // IPs exempt from private-range blocking
  std::vector<std::pair<std::string, std::string>> add_hosts;  // (name, ip) for /etc/hosts
  bool block_private_ips = true;                               // interception mode only
  // --secret / rpc network.secrets. Holds the values: only network_policy.cpp reads them (into
  // the interception plugins); everything recorded or shown uses Secret::redacted(). Each
  // secret's hosts join the allow-list; the guest sees NAME=placeholder in every exec.
  std::vector<Secret> secrets;
  bool force_interception = false;  // rpc network.intercept: interception with no other reason
  PluginOptions plugins;            // --local-model-*, --usage-log-path, --event-log, ...
  bool pull_always = false;         // pull even if the image is in the store
  bool keep_after_close = false;    // --rm=false: keep the state row and directory
  // run -p: host listeners bound before boot (a port in use fails fast) and relayed to guest
  // ports through the agent, for the sandbox's whole life.
  std::vector<PortForwardRule> port_forwards;
  // After a crash, keep the row (`crashed`) and the logs even without keep_after_close: for
  // owners nobody watches (`run -d`), whose record is then the only account of what happened.
  bool keep_after_crash = false;
  // -v / --workspace / rpc create vfs: the guest's FUSE tree at vfs.workspace.
  VfsOptions vfs;
  // --disk / rpc extra_disks: ext4 images the guest mounts, in the given order.
  std::vector<DiskSpec> disks;
  // --cold / rpc create "cold": boot the kernel even when a saved guest could be restored (and
  // do not save one).
  bool cold_boot = false;
};

}  // namespace matchlock::sandbox
