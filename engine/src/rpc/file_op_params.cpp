#include "rpc/file_op_params.h"

namespace matchlock::rpc {
namespace {

using rapidjson::Value;

// The member `name`, or null when it is absent or JSON null (both mean "not given").
const Value* member(const Value* params, const char* name) {
  if (!params || !params->IsObject()) return nullptr;
  auto it = params->FindMember(name);
  if (it == params->MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

Status check_object(const Value* params) {
  if (params && !params->IsNull() && !params->IsObject()) {
    return invalid_argument("invalid params: must be an object");
  }
  return {};
}

Result<std::string> guest_path(const Value* params, const char* name) {
  const Value* v = member(params, name);
  if (!v) return invalid_argument(std::string("invalid ") + name + ": required");
  if (!v->IsString())
    return invalid_argument(std::string("invalid ") + name + ": must be a string");
  std::string path(v->GetString(), v->GetStringLength());
  if (path.empty() || path[0] != '/') {
    return invalid_argument(std::string("invalid ") + name + ": must be an absolute guest path");
  }
  if (path.size() > kMaxGuestPathBytes) {
    return invalid_argument(std::string("invalid ") + name + ": longer than " +
                            std::to_string(kMaxGuestPathBytes) + " bytes");
  }
  if (path.find('\0') != std::string::npos) {
    return invalid_argument(std::string("invalid ") + name + ": contains a NUL byte");
  }
  return path;
}

Result<bool> optional_bool(const Value* params, const char* name, bool fallback) {
  const Value* v = member(params, name);
  if (!v) return fallback;
  if (!v->IsBool()) return invalid_argument(std::string("invalid ") + name + ": must be a boolean");
  return v->GetBool();
}

}  // namespace

Result<std::string> parse_stat_file_params(const Value* params) {
  MATCHLOCK_TRY(check_object(params));
  return guest_path(params, "path");
}

Result<sandbox::GuestMakeDir> parse_make_dir_params(const Value* params) {
  MATCHLOCK_TRY(check_object(params));
  auto path = guest_path(params, "path");
  if (!path.ok()) return path.error();
  sandbox::GuestMakeDir request;
  request.path = std::move(*path);
  if (const Value* mode = member(params, "mode")) {
    if (!mode->IsUint() || mode->GetUint() > 07777) {
      return invalid_argument("invalid mode: must be an integer from 0 to 4095 (0o7777)");
    }
    // 0 is "not set" (as write_file's mode): a directory nobody may enter is never the intent.
    if (mode->GetUint() != 0) request.mode = mode->GetUint();
  }
  auto parents = optional_bool(params, "parents", true);
  if (!parents.ok()) return parents.error();
  request.parents = *parents;
  return request;
}

Result<RemoveFileParams> parse_remove_file_params(const Value* params) {
  MATCHLOCK_TRY(check_object(params));
  auto path = guest_path(params, "path");
  if (!path.ok()) return path.error();
  auto recursive = optional_bool(params, "recursive", false);
  if (!recursive.ok()) return recursive.error();
  return RemoveFileParams{std::move(*path), *recursive};
}

Result<RenameFileParams> parse_rename_file_params(const Value* params) {
  MATCHLOCK_TRY(check_object(params));
  auto old_path = guest_path(params, "old_path");
  if (!old_path.ok()) return old_path.error();
  auto new_path = guest_path(params, "new_path");
  if (!new_path.ok()) return new_path.error();
  return RenameFileParams{std::move(*old_path), std::move(*new_path)};
}

}  // namespace matchlock::rpc
