#include "vfs/file_operation.h"

#include <array>
#include <utility>

namespace matchlock::vfs {
namespace {

constexpr std::array<std::pair<FileOp, const char*>, 18> kNames = {{
    {FileOp::kStat, "stat"},
    {FileOp::kReaddir, "readdir"},
    {FileOp::kOpen, "open"},
    {FileOp::kCreate, "create"},
    {FileOp::kMkdir, "mkdir"},
    {FileOp::kChmod, "chmod"},
    {FileOp::kChown, "chown"},
    {FileOp::kUtimens, "utimens"},
    {FileOp::kRemove, "remove"},
    {FileOp::kRename, "rename"},
    {FileOp::kSymlink, "symlink"},
    {FileOp::kReadlink, "readlink"},
    {FileOp::kLink, "link"},
    {FileOp::kRead, "read"},
    {FileOp::kWrite, "write"},
    {FileOp::kClose, "close"},
    {FileOp::kSync, "sync"},
    {FileOp::kTruncate, "truncate"},
}};

}  // namespace

const char* file_op_name(FileOp op) {
  for (const auto& [value, name] : kNames) {
    if (value == op) return name;
  }
  return "unknown";
}

std::optional<FileOp> parse_file_op(std::string_view name) {
  for (const auto& [value, text] : kNames) {
    if (name == text) return value;
  }
  if (name == "read_dir") return FileOp::kReaddir;
  // "removeall" / "remove_all" (the original protocol's recursive remove) have no FileOp: FUSE
  // never sends one. Rule parsers accept them as ops that match nothing (vfs/hook_rules.cpp).
  return std::nullopt;
}

}  // namespace matchlock::vfs
