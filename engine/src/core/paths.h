// Where matchlock keeps things on the host.
#pragma once

#include <filesystem>

#include "core/result.h"

namespace matchlock {

// $MATCHLOCK_HOME, else ~/.matchlock. Created (0700) on first use by the callers that write.
std::filesystem::path matchlock_home();
// $MATCHLOCK_HOME/images
std::filesystem::path images_dir();
// $MATCHLOCK_HOME/vms/<id>
std::filesystem::path sandbox_dir(const std::string& id);
// Creates `dir` and parents with the given mode for the leaf (0700 by default).
Status ensure_private_dir(const std::filesystem::path& dir, int mode = 0700);

}  // namespace matchlock
