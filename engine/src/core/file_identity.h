// A file's identity for caches keyed by the files behind them (QEMU, the guest kernel): it
// changes when the file is replaced or rewritten, as an upgrade or a rebuild does.
#pragma once

#include <filesystem>
#include <string>

#include "core/result.h"

namespace matchlock {

// "path dev:ino size mtime_ns".
Result<std::string> file_identity(const std::filesystem::path& path);

}  // namespace matchlock
