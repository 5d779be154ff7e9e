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
constexpr const char* kImageMount = "/mnt/base";

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

Status mount_image_disk(const std::string& base_device) {
  return mount_ext4(base_device, kImageMount, MS_RDONLY);
}

Status mount_overlay_root(const SandboxDisks& disks, const std::string& new_root,
                          StepClock& clock) {
  if (!disks.image_mounted) {
    MATCHLOCK_TRY(mount_image_disk(disks.base));
    clock.mark("mount the image's disk");
  }
  MATCHLOCK_TRY(mount_ext4(disks.upper, "/mnt/upper", MS_NOATIME));
  clock.mark("mount the writable disk");
  for (const char* dir : {"/mnt/upper/upper", "/mnt/upper/work"}) {
    if (!make_dirs(dir)) return io_error(std::string("mkdir ") + dir + ": " + std::strerror(errno));
  }
  if (!make_dirs(new_root)) return io_error("mkdir " + new_root + ": " + std::strerror(errno));
  const std::string options =
      std::string("lowerdir=") + kImageMount + ",upperdir=/mnt/upper/upper,workdir=/mnt/upper/work";
  // volatile: overlayfs skips every sync of the upper filesystem (the fsync after each copy-up,
  // and the workload's own fsync and syncfs). The writable disk lives and dies with this one
  // sandbox and is never mounted again, and QEMU already ignores its flushes (cache=unsafe), so
  // a sync here would buy nothing but a journal commit in the guest. A kernel older than 5.10
  // does not know the option: the root is then mounted without it.
  if (::mount("overlay", new_root.c_str(), "overlay", 0, (options + ",volatile").c_str()) != 0 &&
      (errno != EINVAL ||
       ::mount("overlay", new_root.c_str(), "overlay", 0, options.c_str()) != 0)) {
    return io_error("mount overlay on " + new_root + ": " + std::strerror(errno));
  }
  clock.mark("mount the overlay");
  return {};
}

Status validate_data_disk(const DataDisk& disk) {
  const std::string& s = disk.serial;
  bool serial_ok = s.size() > 4 && s.size() <= 6 && s.rfind("disk", 0) == 0 &&
                   s.find_first_not_of("0123456789", 4) == std::string::npos;
  if (!serial_ok) return invalid_argument("config: disk serial \"" + s + "\" is not disk<N>");
  const std::string& p = disk.path;
  bool path_ok = p.size() > 1 && p.size() <= 4096 && p.front() == '/' && p.back() != '/' &&
                 p.find('\0') == std::string::npos && p.find("//") == std::string::npos &&
                 p.find("/./") == std::string::npos && p.find("/../") == std::string::npos &&
                 (p.size() < 2 || p.compare(p.size() - 2, 2, "/.") != 0) &&
                 (p.size() < 3 || p.compare(p.size() - 3, 3, "/..") != 0);
  if (!path_ok) return invalid_argument("config: disk " + s + " mount point is not a clean path");
  return {};
}

Status mount_data_disk(const DataDisk& disk, std::chrono::milliseconds timeout) {
  MATCHLOCK_TRY(validate_data_disk(disk));
  auto device = wait_for_disk(disk.serial, timeout);
  if (!device) {
    return io_error("disk " + disk.serial + " for " + disk.path + ": no such virtio-blk device");
  }
  auto mounted = mount_ext4(*device, disk.path, disk.readonly ? MS_RDONLY : 0);
  if (!mounted.ok()) {
    return io_error("disk " + disk.serial + " (ext4) at " + disk.path + ": " +
                    mounted.error().message);
  }
  return {};
}

void unmount_data_disks(const std::vector<std::string>& paths) {
  for (auto it = paths.rbegin(); it != paths.rend(); ++it) {
    if (::umount2(it->c_str(), 0) == 0) continue;
    ::mount(nullptr, it->c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr);
  }
}

}  // namespace matchlock::guest_agent
