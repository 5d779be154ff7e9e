#include "vfs_mount.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
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

bool load_modules(const std::string& modules_dir) {
  for (const char* module : {"fuse.ko", "virtiofs.ko"}) {
    if (!load_kernel_module(module, modules_dir)) return false;
  }
  return true;
}

// The device number ("major:minor") of the mount at `path`, from /proc/self/mountinfo rather
// than stat(): a stat would ask the file server for the root's attributes, which the kernel
// then keeps for a while, and a saved boot must not carry another sandbox's attributes.
std::string mount_device(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line, id, parent, device, root, mount_point;
  std::string found;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    if (fields >> id >> parent >> device >> root >> mount_point && mount_point == path) {
      found = device;  // the last one: a later mount on the same path hides the earlier
    }
  }
  return found;
}

// Readahead through the mount's backing device info, named after its device number. Best
// effort: without it reads are only slower.
void set_readahead(const std::string& workspace) {
  const std::string device = mount_device(workspace);
  if (!device.empty()) write_file("/sys/class/bdi/" + device + "/read_ahead_kb", kReadaheadKib);
}

// The kernel talks to the host's file server over the device's queues: no process here.
int mount_tag(const std::string& workspace) {
  return ::mount(kVirtioFsTag, workspace.c_str(), "virtiofs", MS_NOSUID | MS_NODEV, "");
}

}  // namespace

Result<VfsMount> mount_workspace(const std::string& workspace, const std::string& modules_dir) {
  if (workspace.empty() || workspace[0] != '/' || workspace.size() > 4096 ||
      workspace.find('\0') != std::string::npos) {
    return invalid_argument("config: workspace must be an absolute path");
  }
  if (!load_modules(modules_dir)) {
    return Error(ErrorCode::kIo,
                 "workspace: cannot load fuse.ko or virtiofs.ko (see the guest log)");
  }
  if (!make_dirs(workspace)) return failed("mkdir " + workspace);
  const auto deadline = std::chrono::steady_clock::now() + kTagWait;
  while (mount_tag(workspace) != 0) {
    if (errno != ENOENT || std::chrono::steady_clock::now() >= deadline) {
      return failed("mount virtiofs " + std::string(kVirtioFsTag) + " on " + workspace);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  set_readahead(workspace);
  return VfsMount{workspace};
}

std::optional<VfsMount> mount_workspace_at_boot(const std::string& modules_dir) {
  const std::string workspace = kDefaultWorkspace;
  if (!load_modules(modules_dir)) return std::nullopt;
  struct stat st {};
  const bool existed = ::lstat(workspace.c_str(), &st) == 0;
  if (existed && !S_ISDIR(st.st_mode)) return std::nullopt;
  if (!existed && !make_dirs(workspace)) return std::nullopt;
  // The drivers probed their devices before init ran: a missing tag means no device, no wait.
  if (mount_tag(workspace) != 0) {
    if (!existed) ::rmdir(workspace.c_str());
    return std::nullopt;
  }
  set_readahead(workspace);
  // The session is up once the server answered FUSE_INIT, which a statfs waits for (and its
  // answer is not cached). After it nothing of this mount is in flight.
  struct statfs fs {};
  if (::statfs(workspace.c_str(), &fs) != 0) {
    ::umount2(workspace.c_str(), MNT_DETACH);
    if (!existed) ::rmdir(workspace.c_str());
    return std::nullopt;
  }
  return VfsMount{workspace, true, !existed};
}

Status unmount_boot_workspace(const VfsMount& mount) {
  if (::umount2(mount.workspace.c_str(), MNT_DETACH) != 0) {
    return failed("unmount " + mount.workspace);
  }
  if (mount.created_dir) ::rmdir(mount.workspace.c_str());  // best effort: it may hold files now
  return {};
}

}  // namespace matchlock::guest_agent
