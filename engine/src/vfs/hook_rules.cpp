#include "vfs/hook_rules.h"

#include <fnmatch.h>
#include <sys/un.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <utility>

namespace matchlock::vfs {
namespace {

using rapidjson::Value;

// The errnos a hook may reasonably answer with; anything else can be given as a number.
constexpr std::array<std::pair<const char*, int>, 24> kErrnoNames = {{
    {"EPERM", EPERM},
    {"ENOENT", ENOENT},
    {"EIO", EIO},
    {"EAGAIN", EAGAIN},
    {"EACCES", EACCES},
    {"EBUSY", EBUSY},
    {"EEXIST", EEXIST},
    {"EXDEV", EXDEV},
    {"ENOTDIR", ENOTDIR},
    {"EISDIR", EISDIR},
    {"EINVAL", EINVAL},
    {"ETXTBSY", ETXTBSY},
    {"EFBIG", EFBIG},
    {"ENOSPC", ENOSPC},
    {"EROFS", EROFS},
    {"EMLINK", EMLINK},
    {"ENAMETOOLONG", ENAMETOOLONG},
    {"ENOTEMPTY", ENOTEMPTY},
    {"ENOSYS", ENOSYS},
    {"ENOTSUP", ENOTSUP},
    {"EOPNOTSUPP", EOPNOTSUPP},
    {"EDQUOT", EDQUOT},
    {"ECANCELED", ECANCELED},
    {"ETIMEDOUT", ETIMEDOUT},
}};
constexpr int kMaxErrno = 4095;  // the kernel's MAX_ERRNO

Error invalid(const std::string& field, const std::string& why) {
  return invalid_argument(field + ": " + why);
}

const Value* member(const Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

Result<std::string> string_member(const Value& obj, const char* name, const std::string& field) {
  const Value* v = member(obj, name);
  if (!v) return std::string();
  if (!v->IsString()) return invalid(field + "." + name, "must be a string");
  return std::string(v->GetString(), v->GetStringLength());
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// One rules[] entry; `field` is "vfs.interception.rules[i]".
Result<HookRule> parse_rule(const Value& v, const std::string& field) {
  if (!v.IsObject()) return invalid(field, "must be an object");
  HookRule rule;
  auto name = string_member(v, "name", field);
  if (!name.ok()) return name.error();
  rule.name = *name;

  auto phase = string_member(v, "phase", field);
  if (!phase.ok()) return phase.error();
  if (auto p = lower(*phase); p == "after") {
    rule.phase = HookPhase::kAfter;
  } else if (!p.empty() && p != "before") {
    return invalid(field + ".phase", "unknown phase \"" + *phase + "\" (before, after)");
  }

  if (const Value* ops = member(v, "ops")) {
    if (!ops->IsArray()) return invalid(field + ".ops", "must be an array of strings");
    for (const auto& o : ops->GetArray()) {
      if (!o.IsString()) return invalid(field + ".ops", "must be an array of strings");
      std::string_view text(o.GetString(), o.GetStringLength());
      const std::string name = lower(std::string(text));
      if (name == "remove_all" || name == "removeall") continue;
      auto op = parse_file_op(name);
      if (!op) return invalid(field + ".ops", "unknown op \"" + std::string(text) + "\"");
      rule.ops.push_back(*op);
    }
    rule.only_unmatchable_ops = !ops->Empty() && rule.ops.empty();
  }

  auto path = string_member(v, "path", field);
  if (!path.ok()) return path.error();
  rule.path = *path;

  auto action = string_member(v, "action", field);
  if (!action.ok()) return action.error();
  if (auto a = lower(*action); a == "block") {
    rule.action = HookAction::kBlock;
  } else if (a == "mutate_write") {
    rule.action = HookAction::kMutateWrite;
  } else if (!a.empty() && a != "allow") {
    return invalid(field + ".action",
                   "unknown action \"" + *action + "\" (allow, block, mutate_write)");
  }

  if (const Value* e = member(v, "errno")) {
    auto error = parse_errno(*e);
    if (!error) return invalid(field + ".errno", "must be an errno name (\"EACCES\") or 1-4095");
    rule.error = *error;
  }

  auto callback = string_member(v, "callback_id", field);
  if (!callback.ok()) return callback.error();
  rule.callback_id = *callback;
  if (const Value* t = member(v, "timeout_ms")) {
    if (!t->IsUint()) return invalid(field + ".timeout_ms", "must be a non-negative integer");
    rule.timeout_ms = t->GetUint();
  }
  if (rule.action == HookAction::kMutateWrite && rule.callback_id.empty()) {
    return invalid(field + ".action", "mutate_write needs a callback_id");
  }
  if (rule.action == HookAction::kBlock && !rule.callback_id.empty()) {
    return invalid(field + ".callback_id", "a block rule cannot have a callback");
  }
  if (rule.action == HookAction::kMutateWrite && rule.phase == HookPhase::kAfter) {
    return invalid(field + ".phase", "mutate_write is a before-phase action");
  }
  return rule;
}

}  // namespace

bool HookRule::matches(const FileOperation& op) const {
  if (only_unmatchable_ops) return false;
  if (!ops.empty() && std::find(ops.begin(), ops.end(), op.op) == ops.end()) return false;
  if (path.empty()) return true;
  return ::fnmatch(path.c_str(), op.path.c_str(), FNM_PATHNAME) == 0;
}

std::optional<int> errno_from_name(std::string_view name) {
  for (const auto& [n, value] : kErrnoNames) {
    if (name == n) return value;
  }
  return std::nullopt;
}

std::string errno_name(int error) {
  for (const auto& [n, value] : kErrnoNames) {
    if (value == error) return n;
  }
  return std::to_string(error);
}

std::optional<int> parse_errno(const Value& value) {
  if (value.IsInt()) {
    const int n = value.GetInt();
    if (n >= 1 && n <= kMaxErrno) return n;
    return std::nullopt;
  }
  if (value.IsString()) return errno_from_name({value.GetString(), value.GetStringLength()});
  return std::nullopt;
}

Result<HookSettings> parse_hook_settings(const Value& interception, const std::string& field) {
  if (!interception.IsObject()) return invalid(field, "must be an object");
  HookSettings s;
  if (const Value* e = member(interception, "emit_events")) {
    if (!e->IsBool()) return invalid(field + ".emit_events", "must be a boolean");
    s.emit_events = e->GetBool();
  }
  auto socket = string_member(interception, "callback_socket", field);
  if (!socket.ok()) return socket.error();
  s.callback_socket = *socket;
  if (s.callback_socket.find('\0') != std::string::npos) {
    return invalid(field + ".callback_socket", "must not contain NUL bytes");
  }
  if (s.callback_socket.size() >= sizeof(sockaddr_un::sun_path)) {
    return invalid(field + ".callback_socket", "path too long for a unix socket");
  }
  if (const Value* rules = member(interception, "rules")) {
    if (!rules->IsArray()) return invalid(field + ".rules", "must be an array");
    for (rapidjson::SizeType i = 0; i < rules->Size(); ++i) {
      const std::string rule_field = field + ".rules[" + std::to_string(i) + "]";
      auto rule = parse_rule((*rules)[i], rule_field);
      if (!rule.ok()) return rule.error();
      if (!rule->callback_id.empty() && s.callback_socket.empty()) {
        return invalid(rule_field + ".callback_id", "needs " + field + ".callback_socket");
      }
      s.rules.push_back(std::move(*rule));
    }
  }
  return s;
}

}  // namespace matchlock::vfs
