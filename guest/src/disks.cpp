#include "disks.h"

#include <dirent.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <thread>

#include "fs_util.h"

namespace matchlock::guest_agent {
namespace {

constexpr auto kDiskPollInterval = std::chrono::milliseconds(5);

std::optional<std::string> find_disk(const std::string& serial) {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir("/sys/block"), ::closedir);
  if (!dir) return std::nullopt;
  while (dirent* entry = ::readdir(dir.get())) {
    std::string name = entry->d_name;
    if (name.rfind("vd", 0) != 0) continue;
    auto value = read_file("/sys/block/" + name + "/serial", 256);
    if (!value) continue;
    while (!value->empty() && (value->back() == '\n' || value->back() == ' ')) value->pop_back();
    if (*value == serial) return "/dev/" + name;
  }
  return std::nullopt;
}

Status mount_ext4(const std::string& device, const std::string& target, unsigned long flags) {
  if (!make_dirs(target)) return io_error("mkdir " + target + ": " + std::strerror(errno));
  if (::mount(device.c_str(), target.c_str(), "ext4", flags, nullptr) != 0) {
    return io_error("mount " + device + " on " + target + ": " + std::strerror(errno));
  }
  return {};
}

}  // namespace

std::optional<std::string> wait_for_disk(const std::string& serial,
                                         std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (auto device = find_disk(serial)) {
      // The sysfs entry can appear a moment before devtmpfs creates the node.
      if (::access(device->c_str(), F_OK) == 0) return device;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(kDiskPollInterval);
  }
}

Status mount_overlay_root(const std::string& base_device, const std::string& upper_device,
                          const std::string& new_root) {
  MATCHLOCK_TRY(mount_ext4(base_device, "/mnt/base", MS_RDONLY));
  MATCHLOCK_TRY(mount_ext4(upper_device, "/mnt/upper", MS_NOATIME));
  for (const char* dir : {"/mnt/upper/upper", "/mnt/upper/work"}) {
    if (!make_dirs(dir)) return io_error(std::string("mkdir ") + dir + ": " + std::strerror(errno));
  }
  if (!make_dirs(new_root)) return io_error("mkdir " + new_root + ": " + std::strerror(errno));
  const char* options = "lowerdir=/mnt/base,upperdir=/mnt/upper/upper,workdir=/mnt/upper/work";
  if (::mount("overlay", new_root.c_str(), "overlay", 0, options) != 0) {
    return io_error("mount overlay on " + new_root + ": " + std::strerror(errno));
  }
  return {};
}

}  // namespace matchlock::guest_agent
