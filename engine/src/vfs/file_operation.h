// One guest file operation as hooks and events see it: the names match the rpc protocol's VFS
// hook ops (docs/rpc.md), and paths are guest absolute paths ("/workspace/src/a.c").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace matchlock::vfs {

enum class FileOp {
  kStat,
  kReaddir,
  kOpen,
  kCreate,
  kMkdir,
  kChmod,
  kChown,
  kUtimens,
  kRemove,  // unlink and rmdir
  kRename,
  kSymlink,
  kReadlink,
  kLink,
  kRead,
  kWrite,
  kClose,
  kSync,
  kTruncate,
};

// "stat", "readdir", ... "truncate".
const char* file_op_name(FileOp op);
// Accepts the names above plus the aliases "read_dir", "removeall" and "remove_all" (the last
// two never match a guest operation: FUSE has no recursive remove).
std::optional<FileOp> parse_file_op(std::string_view name);

struct FileOperation {
  FileOp op = FileOp::kStat;
  std::string path;      // guest absolute path
  std::string new_path;  // rename, link, symlink (the link's path; `path` is its target)
  uint32_t uid = 0, gid = 0, pid = 0;  // the calling guest process
  uint32_t mode = 0;                   // create, mkdir, chmod
  uint64_t offset = 0;                 // read, write, truncate (new size)
  uint64_t size = 0;                   // bytes asked (before) or transferred (after)
};

}  // namespace matchlock::vfs
