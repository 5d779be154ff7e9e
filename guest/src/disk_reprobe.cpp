#include "disk_reprobe.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "core/unique_fd.h"
#include "disks.h"
#include "fs_util.h"

namespace matchlock::guest_agent {
namespace {

constexpr const char* kDriverDir = "/sys/bus/virtio/drivers/virtio_blk/";

struct VirtioDisk {
  std::string serial;
  std::string virtio_device;  // "virtio3": the device's name on the virtio bus
};

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// "/sys/block/vdX/device" links to the virtio device ("../../../virtio3").
std::optional<std::string> virtio_device_of(const std::string& block_name) {
  char target[512];
  ssize_t n =
      ::readlink(("/sys/block/" + block_name + "/device").c_str(), target, sizeof target - 1);
  if (n <= 0) return std::nullopt;
  std::string link(target, static_cast<size_t>(n));
  std::string name = link.substr(link.rfind('/') + 1);
  if (name.rfind("virtio", 0) != 0) return std::nullopt;
  return name;
}

Result<std::vector<VirtioDisk>> disks_except(const std::set<std::string>& keep_serials) {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir("/sys/block"), ::closedir);
  if (!dir) return io_error(std::string("open /sys/block: ") + std::strerror(errno));
  std::vector<VirtioDisk> disks;
  while (dirent* entry = ::readdir(dir.get())) {
    std::string name = entry->d_name;
    if (name.rfind("vd", 0) != 0) continue;
    std::string serial = trimmed(read_file("/sys/block/" + name + "/serial", 256).value_or(""));
    if (keep_serials.count(serial) != 0) continue;
    auto device = virtio_device_of(name);
    if (!device) return io_error("disk " + name + ": no virtio device behind it");
    disks.push_back({serial, *device});
  }
  return disks;
}

Status write_driver_file(const char* file, const std::string& device) {
  std::string path = std::string(kDriverDir) + file;
  // sysfs: one write() of the device name; write_file would unlink and create the file.
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return io_error("open " + path + ": " + std::strerror(errno));
  ssize_t n = ::write(fd.get(), device.data(), device.size());
  if (n != static_cast<ssize_t>(device.size())) {
    return io_error(std::string("virtio_blk ") + file + " " + device + ": " +
                    std::strerror(n < 0 ? errno : EIO));
  }
  return {};
}

}  // namespace

Status reprobe_virtio_disks(const std::set<std::string>& keep_serials,
                            std::chrono::milliseconds timeout) {
  auto disks = disks_except(keep_serials);
  if (!disks.ok()) return disks.error();
  for (const auto& disk : *disks) {
    MATCHLOCK_TRY(write_driver_file("unbind", disk.virtio_device));
    MATCHLOCK_TRY(write_driver_file("bind", disk.virtio_device));
  }
  // Probing is synchronous, but the /dev node comes from devtmpfs a moment later.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (const auto& disk : *disks) {
    if (disk.serial.empty()) continue;  // nothing to find it by; matchlock names every disk
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (!wait_for_disk(disk.serial, std::max(left, std::chrono::milliseconds(0)))) {
      return io_error("disk " + disk.serial + " did not come back after its re-probe");
    }
  }
  return {};
}

}  // namespace matchlock::guest_agent
