// VFS hook settings as the user gives them (rpc create vfs.interception, docs/files.md): which
// guest file operations are refused, rewritten, sent to an SDK callback or only observed.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "vfs/file_operation.h"

namespace matchlock::vfs {

enum class HookPhase { kBefore, kAfter };
enum class HookAction {
  kAllow,        // no effect by itself; with a callback_id the callback decides
  kBlock,        // the operation fails with `error`, unrun
  kMutateWrite,  // callback rules only: the callback gets the written bytes and may replace them
};

struct HookRule {
  std::string name;
  HookPhase phase = HookPhase::kBefore;
  std::vector<FileOp> ops;  // empty = every operation (unless only_unmatchable_ops)
  // The ops given were all "remove_all"/"removeall", which no guest operation is: never matches.
  bool only_unmatchable_ops = false;
  std::string path;  // fnmatch(FNM_PATHNAME) glob on the guest path; empty = every path
  HookAction action = HookAction::kAllow;
  int error = EPERM;        // for kBlock
  std::string callback_id;  // "" = no SDK callback
  uint32_t timeout_ms = 0;  // callback deadline; 0 = kDefaultCallbackTimeoutMs

  bool matches(const FileOperation& op) const;
};

struct HookSettings {
  bool emit_events = false;
  std::string callback_socket;  // SDK callback server; "" = none
  std::vector<HookRule> rules;

  bool empty() const { return !emit_events && rules.empty(); }
};

constexpr uint32_t kDefaultCallbackTimeoutMs = 5000;

// An errno given as a name ("EACCES") or a number (13); nullopt for anything else.
std::optional<int> parse_errno(const rapidjson::Value& value);
std::optional<int> errno_from_name(std::string_view name);
// "EACCES" for the names parse accepts, else the number as text.
std::string errno_name(int error);

// `interception` = {"emit_events", "callback_socket", "rules":[...]}. Errors name the field under
// `field` ("vfs.interception.rules[0].ops: unknown op \"x\"").
Result<HookSettings> parse_hook_settings(const rapidjson::Value& interception,
                                         const std::string& field);

}  // namespace matchlock::vfs
