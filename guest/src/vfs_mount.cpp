#include "vfs_mount.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "channel.h"
#include "core/unique_fd.h"
#include "fs_util.h"
#include "modules.h"
#include "vfs_relay.h"

namespace matchlock::guest_agent {
namespace {

constexpr const char* kVfsPort = "matchlock.vfs";
// virtio-serial ports appear with the device, long before CONFIG; this only covers a slow udev-
// less enumeration.
constexpr auto kPortWait = std::chrono::seconds(2);

Error failed(const std::string& what) {
  return Error(ErrorCode::kIo, "workspace: " + what + ": " + std::strerror(errno));
}

Result<UniqueFd> open_vfs_port() {
  const auto deadline = std::chrono::steady_clock::now() + kPortWait;
  while (true) {
    if (auto device = find_virtio_port(kVfsPort)) {
      UniqueFd fd(::open(device->c_str(), O_RDWR | O_CLOEXEC | O_NOCTTY));
      if (!fd) return failed("open " + *device);
      return fd;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Error(ErrorCode::kNotFound,
                   std::string("workspace: virtio-serial port ") + kVfsPort + " is missing");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

Result<VfsMount> mount_workspace(const std::string& workspace, const std::string& modules_dir) {
  if (workspace.empty() || workspace[0] != '/' || workspace.size() > 4096 ||
      workspace.find('\0') != std::string::npos) {
    return invalid_argument("config: workspace must be an absolute path");
  }
  if (!load_kernel_module("fuse.ko", modules_dir)) {
    return Error(ErrorCode::kIo, "workspace: cannot load fuse.ko (see the guest log)");
  }
  if (!make_dirs(workspace)) return failed("mkdir " + workspace);
  // The port first: without it nothing could answer the kernel, and the mount would hang users.
  auto port = open_vfs_port();
  if (!port.ok()) return port.error();
  UniqueFd fuse(::open("/dev/fuse", O_RDWR | O_CLOEXEC));
  if (!fuse) return failed("open /dev/fuse");
  // No default_permissions: the host decides access. max_read matches the host's max_write.
  std::string data = "fd=" + std::to_string(fuse.get()) +
                     ",rootmode=40000,user_id=0,group_id=0,allow_other,max_read=1048576";
  if (::mount("matchlock", workspace.c_str(), "fuse.matchlock", MS_NOSUID | MS_NODEV,
              data.c_str()) != 0) {
    return failed("mount fuse.matchlock on " + workspace);
  }
  auto relay = start_vfs_relay(std::move(fuse), std::move(*port));
  if (!relay.ok()) {
    ::umount2(workspace.c_str(), MNT_DETACH);
    return relay.error();
  }
  return VfsMount{workspace, *relay};
}

}  // namespace matchlock::guest_agent
