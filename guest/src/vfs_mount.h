// The workspace mount (CONFIG "workspace"): the host's file server, reached through virtio-fs
// (the vhost-user-fs device tagged "matchlock"), mounted before READY so every exec sees it.
//
// The boot mounts it at the default path before HELLO, so a saved boot carries the mount and a
// restored sandbox whose workspace is the default has nothing to mount (the host's file server
// carries the FUSE session, still empty, in its device state). CONFIG keeps that mount, or
// replaces it when the sandbox's workspace is elsewhere.
#pragma once

#include <optional>
#include <string>

#include "core/result.h"

namespace matchlock::guest_agent {

// The workspace when CONFIG names none other (the engine's default too).
inline constexpr const char* kDefaultWorkspace = "/workspace";

struct VfsMount {
  std::string workspace;      // absolute guest path
  bool made_by_boot = false;  // mounted by the boot at kDefaultWorkspace, before any CONFIG
  bool created_dir = false;   // the boot created that directory: it goes with the mount
};

// Loads fuse.ko and virtiofs.ko from `modules_dir`, creates `workspace` and mounts the virtio-fs
// tag there. Any failure is an error naming the step (the host then fails the boot).
Result<VfsMount> mount_workspace(const std::string& workspace, const std::string& modules_dir);

// The boot's mount at kDefaultWorkspace, once the FUSE session is established (so nothing is in
// flight when the host saves the guest). nullopt when the guest has no virtio-fs device or the
// path cannot be a directory: CONFIG mounts the workspace then, as it would anyway.
std::optional<VfsMount> mount_workspace_at_boot(const std::string& modules_dir);

// Undoes the boot's mount: unmounted, and its directory removed if the boot made it.
Status unmount_boot_workspace(const VfsMount& mount);

}  // namespace matchlock::guest_agent
