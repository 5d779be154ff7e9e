#include "dockerbuild/build_leftovers.h"

#include <unistd.h>

#include "core/paths.h"
#include "core/pid_named.h"

namespace matchlock::dockerbuild {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kPrefix = "build-";

}  // namespace

std::string scratch_prefix() {
  return std::string(kPrefix) + std::to_string(::getpid()) + "-";
}

fs::path scratch_root() {
  return matchlock_home() / "cache" / "build" / "tmp";
}

int remove_dead_build_scratch(const fs::path& root,
                              const std::function<void(const fs::path&)>& removed) {
  return pid_named::remove_dead_makers_leftovers(root, kPrefix, removed);
}

}  // namespace matchlock::dockerbuild
