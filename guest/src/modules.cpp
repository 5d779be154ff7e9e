#include "modules.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <set>
#include <string_view>
#include <vector>

#include "core/text_lines.h"
#include "core/unique_fd.h"
#include "fs_util.h"
#include "log.h"

namespace matchlock::guest_agent {
namespace {

// Virtio device ids (virtio spec §5) whose drivers a modular kernel bundle may carry.
constexpr int kVirtioNet = 1;
constexpr int kVirtioBlock = 2;
constexpr int kVirtioConsole = 3;
constexpr int kVirtioRng = 4;  // the engine attaches none now; a bundle may still ship the module
constexpr int kVirtio9p = 9;   // only bench/vfs.py's baseline attaches one
constexpr int kVirtioFs = 26;

enum class When { kBus, kAlways, kDevice, kOnDemand };
struct ModulePolicy {
  const char* file;
  When when;
  int device = 0;
};

// Loading a module costs tens of milliseconds under TCG, so each one must earn its place.
// Modules not listed here are loaded (a kernel upgrade may add a dependency we do not know).
const ModulePolicy kPolicies[] = {
    {"virtio_ring.ko", When::kBus},
    {"virtio.ko", When::kBus},
    {"virtio_mmio.ko", When::kBus},
    {"virtio_blk.ko", When::kDevice, kVirtioBlock},
    {"virtio_console.ko", When::kDevice, kVirtioConsole},
    {"failover.ko", When::kDevice, kVirtioNet},
    {"net_failover.ko", When::kDevice, kVirtioNet},
    {"virtio_net.ko", When::kDevice, kVirtioNet},
    {"virtio-rng.ko", When::kDevice, kVirtioRng},
    {"overlay.ko", When::kAlways},
    // Before HELLO, so a saved guest has them: a restore then only mounts the workspace.
    {"fuse.ko", When::kDevice, kVirtioFs},
    {"virtiofs.ko", When::kDevice, kVirtioFs},
    {"fscache.ko", When::kDevice, kVirtio9p},
    {"netfs.ko", When::kDevice, kVirtio9p},
    {"9pnet.ko", When::kDevice, kVirtio9p},
    {"9pnet_virtio.ko", When::kDevice, kVirtio9p},
    {"9p.ko", When::kDevice, kVirtio9p},
};

const ModulePolicy* policy_for(const std::string& file) {
  for (const auto& p : kPolicies) {
    if (file == p.file) return &p;
  }
  return nullptr;
}

std::vector<std::string> read_order(const std::string& dir) {
  auto order = read_file(dir + "/order", 1 << 20);
  if (!order) return {};
  return parse_module_order(*order);
}

// Device ids on the virtio bus; probing is synchronous when virtio_mmio registers.
std::set<int> attached_virtio_devices() {
  std::set<int> ids;
  const char* bus = "/sys/bus/virtio/devices";
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(bus), ::closedir);
  if (!dir) return ids;
  while (dirent* e = ::readdir(dir.get())) {
    if (e->d_name[0] == '.') continue;
    auto text = read_file(std::string(bus) + "/" + e->d_name + "/device", 64);
    if (text) ids.insert(static_cast<int>(std::strtol(text->c_str(), nullptr, 0)));
  }
  return ids;
}

}  // namespace

std::vector<std::string> parse_module_order(std::string_view text) {
  std::vector<std::string> names;
  // TextLines, not std::istringstream: the first stream of the process sets up the C++ locale,
  // about 20 ms of boot under TCG.
  TextLines lines(text);
  std::string_view line;
  while (lines.next(line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    // Names are bare file names; a path separator would escape the module directory.
    if (line.find('/') != std::string_view::npos || line == "." || line == "..") {
      log_line("module " + std::string(line) + ": not a file name, skipped");
      continue;
    }
    names.emplace_back(line);
  }
  return names;
}

std::string kernel_module_name(const std::string& file_name) {
  std::string name = file_name.substr(0, file_name.rfind(".ko"));
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  return name;
}

bool load_kernel_module(const std::string& file_name, const std::string& dir) {
  // finit_module of a loaded module reads and relocates the whole file before it fails with
  // EEXIST (17 ms for fuse and virtiofs under TCG, on every sandbox's workspace mount).
  if (::access(("/sys/module/" + kernel_module_name(file_name)).c_str(), F_OK) == 0) return true;
  std::string path = dir + "/" + file_name;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  // Not in the bundle: the kernel has it built in (matchlock's own kernel has every driver a
  // sandbox needs built in; a built-in module without parameters has no /sys/module entry).
  // If it is not, whatever needs it fails with its own error.
  if (!fd && errno == ENOENT) return true;
  if (!fd) {
    log_errno("open module " + path);
    return false;
  }
  // glibc has no finit_module wrapper.
  if (::syscall(SYS_finit_module, fd.get(), "", 0) != 0 && errno != EEXIST) {
    log_errno("load module " + file_name);
    return false;
  }
  return true;
}

void load_kernel_modules(const std::string& dir) {
  auto names = read_order(dir);
  // A kernel with its drivers built in: not even the bus scan below (14 ms under TCG).
  if (names.empty()) return;
  for (const auto& name : names) {
    const auto* p = policy_for(name);
    if (p && p->when == When::kBus) load_kernel_module(name, dir);
  }
  std::set<int> devices = attached_virtio_devices();
  for (const auto& name : names) {
    const auto* p = policy_for(name);
    if (!p || p->when == When::kAlways || (p->when == When::kDevice && devices.count(p->device))) {
      load_kernel_module(name, dir);
    }
  }
}

}  // namespace matchlock::guest_agent
