#include "core/paths.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/knobs.h"

namespace matchlock {

std::filesystem::path matchlock_home() {
  if (auto h = knobs::get(knobs::kHome)) return *h;
  const char* home = std::getenv("HOME");
  if (!home || !*home) {
    if (const passwd* pw = getpwuid(getuid())) home = pw->pw_dir;
  }
  return std::filesystem::path(home ? home : "/tmp") / ".matchlock";
}

std::filesystem::path images_dir() {
  return matchlock_home() / "images";
}

std::filesystem::path sandbox_dir(const std::string& id) {
  return matchlock_home() / "vms" / id;
}

Status ensure_private_dir(const std::filesystem::path& dir, int mode) {
  std::error_code ec;
  std::filesystem::create_directories(dir.parent_path(), ec);
  if (ec) return io_error("create " + dir.parent_path().string() + ": " + ec.message());
  if (::mkdir(dir.c_str(), static_cast<mode_t>(mode)) != 0) {
    if (errno == EEXIST) return {};  // an existing directory keeps the mode its owner chose
    return io_error("create " + dir.string() + ": " + std::strerror(errno));
  }
  ::chmod(dir.c_str(), static_cast<mode_t>(mode));  // mkdir's mode is filtered by the umask
  return {};
}

}  // namespace matchlock
