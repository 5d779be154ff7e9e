// Files inside a running sandbox, reached through the guest agent (not the VFS): rpc
// write_file / read_file / list_files / stat_file / make_dir / remove_file / rename_file and
// `matchlock cp`. Any guest path, as root in the guest.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace matchlock::sandbox {

struct GuestFileInfo {
  std::string name;
  uint64_t size = 0;
  uint32_t mode = 0;  // st_mode, with the S_IF* type bits
  bool is_dir = false;
  int64_t mtime_unix = 0;
};

// A byte range read from a guest file.
struct GuestFileChunk {
  std::string data;
  uint64_t file_size = 0;  // the whole file's size when the read started
  uint32_t mode = 0;       // st_mode
};

struct GuestFileWrite {
  std::string path;
  std::string data;
  uint32_t mode = 0644;        // for a file that is created
  uint64_t offset = 0;         // where `data` goes
  bool truncate = true;        // truncate to offset + data.size() afterwards (false: keep the rest)
  bool create_parents = true;  // mkdir -p the parent (0755)
};

struct GuestMakeDir {
  std::string path;
  uint32_t mode = 0755;  // exactly (not narrowed by the guest's umask), when it is created
  bool parents = true;   // create missing parents (0755); an existing directory is success
};

}  // namespace matchlock::sandbox
