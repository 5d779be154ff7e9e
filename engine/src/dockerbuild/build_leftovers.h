// The scratch directories of builds that died without cleaning up (SIGKILL, a crash): a build
// works in $MATCHLOCK_HOME/cache/build/tmp/build-<pid>-XXXXXX and removes it when it ends; `gc`
// removes those whose process is gone.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

namespace matchlock::dockerbuild {

// "build-<pid>-": the prefix of this process's scratch directory names.
std::string scratch_prefix();
// The build cache's scratch root under $MATCHLOCK_HOME.
std::filesystem::path scratch_root();
// Removes the scratch directories whose build process no longer runs; `removed` is told each
// one. Returns how many could not be removed.
int remove_dead_build_scratch(const std::filesystem::path& root,
                              const std::function<void(const std::filesystem::path&)>& removed);

}  // namespace matchlock::dockerbuild
