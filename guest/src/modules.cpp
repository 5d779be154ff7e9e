#include "modules.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <sstream>

#include "core/unique_fd.h"
#include "fs_util.h"
#include "log.h"

namespace matchlock::guest_agent {

void load_kernel_modules(const std::string& dir) {
  auto order = read_file(dir + "/order", 1 << 20);
  if (!order) return;
  std::istringstream lines(*order);
  std::string name;
  while (std::getline(lines, name)) {
    while (!name.empty() && (name.back() == '\r' || name.back() == ' ')) name.pop_back();
    if (name.empty() || name.front() == '#') continue;
    // Names are bare file names; a path separator would escape the module directory.
    if (name.find('/') != std::string::npos) {
      log_line("module " + name + ": not a file name, skipped");
      continue;
    }
    std::string path = dir + "/" + name;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
      log_errno("open module " + path);
      continue;
    }
    // glibc has no finit_module wrapper.
    if (::syscall(SYS_finit_module, fd.get(), "", 0) != 0 && errno != EEXIST) {
      log_errno("load module " + name);
    }
  }
}

}  // namespace matchlock::guest_agent
