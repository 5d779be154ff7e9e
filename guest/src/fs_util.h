// Small filesystem helpers shared by the init steps.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace matchlock::guest_agent {

// mkdir -p; true when the directory exists afterwards.
bool make_dirs(const std::string& path, mode_t mode = 0755);

// "/a/b" -> "/a"; "/a" and anything without a slash -> "/".
std::string parent_of(const std::string& path);

// Whole file contents, or nullopt if it cannot be read. Reads at most max_bytes.
std::optional<std::string> read_file(const std::string& path, size_t max_bytes = 4 << 20);

// Replaces `path` with `contents` (unlinking a symlink first so we never write through it).
bool write_file(const std::string& path, const std::string& contents, mode_t mode = 0644);

}  // namespace matchlock::guest_agent
