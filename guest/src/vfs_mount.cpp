#include "vfs_mount.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
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

// Readahead for the mount, in KiB: the kernel's default of 128 KiB makes a sequential read
// one round trip to the host per 128 KiB; 1 MiB (FUSE_INIT's max_pages) reads 1.3x faster
// under TCG. The kernel still starts small for random reads and grows only on sequential ones.
constexpr const char* kReadaheadKib = "1024";

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
  // The mount's backing device info is named after its anonymous device number. Best effort:
  // without it reads are only slower.
  struct stat st {};
  if (::stat(workspace.c_str(), &st) == 0) {
    write_file("/sys/class/bdi/" + std::to_string(major(st.st_dev)) + ":" +
                   std::to_string(minor(st.st_dev)) + "/read_ahead_kb",
               kReadaheadKib);
  }
  return VfsMount{workspace};
}

}  // namespace matchlock::guest_agent
