// Removes a directory tree however deep it is. std::filesystem::remove_all keeps one open
// directory per level, so a tree deeper than the open-file limit (a guest builds one in an
// overlay mount's upper directory in seconds: mkdir n; mv c n/c; mv n c) fails with EMFILE
// and stays behind. This walk holds one directory open at a time, climbs back through "..",
// never follows a symlink, and takes time linear in the entries.
#pragma once

#include <cstdint>
#include <filesystem>
#include <system_error>

namespace matchlock {

// Like std::filesystem::remove_all: removes `path` (a file, a symlink or a whole tree), returns
// how many entries were removed; a missing path removes nothing and is no error. On failure
// `ec` holds the first error and what could be removed is gone.
std::uintmax_t remove_tree(const std::filesystem::path& path, std::error_code& ec) noexcept;

}  // namespace matchlock
