// The filesystem work behind FILE_MKDIR, FILE_REMOVE and FILE_RENAME (protocol.h, "File
// streams"), done by the agent as root on any guest path. FileSession parses the requests and
// answers; these only touch the filesystem and say what failed where.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace matchlock::guest_agent {

// Why an operation failed, on which path (maybe one below the path asked for).
struct FileOpFailure {
  std::string action;  // "mkdir", "remove", ...
  std::string path;
  int error = 0;       // errno
  std::string detail;  // replaces strerror(error) in the message when set
  // "<action> <path>: <detail or strerror>"
  std::string message() const;
};
// nullopt: done.
using FileOpOutcome = std::optional<FileOpFailure>;

// mkdir with exactly `mode` (& 07777; the umask does not narrow it) when the directory is
// created. `parents`: missing parents are created 0755 and an existing directory is success.
FileOpOutcome make_directory(const std::string& path, mode_t mode, bool parents);

// A file, symlink or empty directory; with `recursive` a directory and everything below it,
// never following a symlink (one is removed, its target kept), at most kMaxRemoveDepth deep.
FileOpOutcome remove_path(const std::string& path, bool recursive);

// rename(2).
FileOpOutcome rename_path(const std::string& from, const std::string& to);

}  // namespace matchlock::guest_agent
