// The wire forms of guest files in the rpc protocol (docs/rpc.md): FileInfo rows,
// Go os.FileMode numbers, RFC 3339 times and file `event` notifications.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <optional>
#include <string>

#include "sandbox/guest_files.h"
#include "vfs/file_operation.h"

namespace matchlock::rpc {

// read_file without `limit` refuses files larger than this (the whole file is one reply).
inline constexpr uint64_t kMaxReadFileBytes = 16 * 1024 * 1024;

// st_mode (S_IF* type bits + permissions) as Go's os.FileMode: permission bits, setuid/setgid/
// sticky at Go's positions, directory 1<<31, symlink 1<<27, device 1<<26, ...
uint32_t go_file_mode(uint32_t st_mode);
// "2024-01-02T03:04:05Z"; a time outside the years 0001-9999 (a guest's garbage) is
// "0001-01-01T00:00:00Z", so the result always has RFC 3339's shape.
std::string rfc3339_utc(int64_t unix_seconds);

rapidjson::Value file_info_json(const sandbox::GuestFileInfo& info,
                                rapidjson::Document::AllocatorType& a);

// stat_file's result: {"exists":false} for nullopt, else {"exists":true,"name","size","mode",
// "mod_time","is_dir","is_symlink"} (mode as go_file_mode).
rapidjson::Value stat_result_json(const std::optional<sandbox::GuestFileInfo>& info,
                                  rapidjson::Document::AllocatorType& a);

// The `event` notification line for one VFS operation; `error` > 0 (the errno the guest got)
// adds "error":"EACCES".
std::string file_event_line(const vfs::FileOperation& op, int error, int64_t unix_ms);

}  // namespace matchlock::rpc
