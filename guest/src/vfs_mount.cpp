#include "vfs_mount.h"

#include <sys/mount.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "fs_util.h"
#include "modules.h"

namespace matchlock::guest_agent {
namespace {

// The virtio-fs tag the host gives its vhost-user-fs device (the mount's source).
constexpr const char* kVirtioFsTag = "matchlock";
// virtiofs.ko registers the tag as it probes the device; a probe deferred by the driver core
// is covered by retrying a missing tag briefly.
constexpr auto kTagWait = std::chrono::seconds(2);

Error failed(const std::string& what) {
  return Error(ErrorCode::kIo, "workspace: " + what + ": " + std::strerror(errno));
}

}  // namespace

Result<VfsMount> mount_workspace(const std::string& workspace, const std::string& modules_dir) {
  if (workspace.empty() || workspace[0] != '/' || workspace.size() > 4096 ||
      workspace.find('\0') != std::string::npos) {
    return invalid_argument("config: workspace must be an absolute path");
  }
  for (const char* module : {"fuse.ko", "virtiofs.ko"}) {
    if (!load_kernel_module(module, modules_dir)) {
      return Error(ErrorCode::kIo,
                   std::string("workspace: cannot load ") + module + " (see the guest log)");
    }
  }
  if (!make_dirs(workspace)) return failed("mkdir " + workspace);
  // The kernel talks to the host's file server over the device's queues: no process here.
  const auto deadline = std::chrono::steady_clock::now() + kTagWait;
  while (::mount(kVirtioFsTag, workspace.c_str(), "virtiofs", MS_NOSUID | MS_NODEV, "") != 0) {
    if (errno != ENOENT || std::chrono::steady_clock::now() >= deadline) {
      return failed("mount virtiofs " + std::string(kVirtioFsTag) + " on " + workspace);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return VfsMount{workspace};
}

}  // namespace matchlock::guest_agent
