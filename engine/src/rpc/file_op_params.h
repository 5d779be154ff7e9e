// The params of the file-operation extensions stat_file, make_dir, remove_file and rename_file
// (docs/rpc.md): every path absolute, at most kMaxGuestPathBytes, without NUL bytes.
// Errors are kInvalidArgument and name the field ("invalid path: ...", "invalid mode: ..."):
// the session answers them with -32602.
#pragma once

#include <rapidjson/document.h>

#include <cstddef>
#include <string>

#include "core/result.h"
#include "sandbox/guest_files.h"

namespace matchlock::rpc {

inline constexpr size_t kMaxGuestPathBytes = 4096;  // PATH_MAX

struct RemoveFileParams {
  std::string path;
  bool recursive = false;
};

struct RenameFileParams {
  std::string old_path;
  std::string new_path;
};

// `params` may be null (no "params" member).
Result<std::string> parse_stat_file_params(const rapidjson::Value* params);
// "mode" absent or 0: 0755; "parents" absent: true.
Result<sandbox::GuestMakeDir> parse_make_dir_params(const rapidjson::Value* params);
Result<RemoveFileParams> parse_remove_file_params(const rapidjson::Value* params);
Result<RenameFileParams> parse_rename_file_params(const rapidjson::Value* params);

}  // namespace matchlock::rpc
