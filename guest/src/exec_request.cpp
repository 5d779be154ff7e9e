#include "exec_request.h"

#include <rapidjson/document.h>

#include "guest_protocol/protocol.h"

namespace matchlock::guest_agent {
namespace {

// NUL bytes would silently truncate strings handed to the kernel.
bool is_c_string(const rapidjson::Value& value) {
  return value.IsString() &&
         std::string_view(value.GetString(), value.GetStringLength()).find('\0') ==
             std::string_view::npos;
}

Status read_string_array(const rapidjson::Value& object, const char* field,
                         std::vector<std::string>& out) {
  auto it = object.FindMember(field);
  if (it == object.MemberEnd() || it->value.IsNull()) return {};
  if (!it->value.IsArray()) return invalid_argument(std::string(field) + " is not an array");
  for (const auto& item : it->value.GetArray()) {
    if (!is_c_string(item)) return invalid_argument(std::string(field) + " has a non-string item");
    out.emplace_back(item.GetString(), item.GetStringLength());
  }
  return {};
}

Status read_string(const rapidjson::Value& object, const char* field, std::string& out) {
  auto it = object.FindMember(field);
  if (it == object.MemberEnd() || it->value.IsNull()) return {};
  if (!is_c_string(it->value)) return invalid_argument(std::string(field) + " is not a string");
  out.assign(it->value.GetString(), it->value.GetStringLength());
  return {};
}

Status read_bool(const rapidjson::Value& object, const char* field, bool& out) {
  auto it = object.FindMember(field);
  if (it == object.MemberEnd() || it->value.IsNull()) return {};
  if (!it->value.IsBool()) return invalid_argument(std::string(field) + " is not a boolean");
  out = it->value.GetBool();
  return {};
}

Status read_u16(const rapidjson::Value& object, const char* field, uint16_t& out) {
  auto it = object.FindMember(field);
  if (it == object.MemberEnd() || it->value.IsNull()) return {};
  if (!it->value.IsUint() || it->value.GetUint() > 0xffff) {
    return invalid_argument(std::string(field) + " is not a 16-bit unsigned integer");
  }
  out = static_cast<uint16_t>(it->value.GetUint());
  return {};
}

// "build_root": {"lower":[ids],"upper":id}. THREAT: ids become path components under the
// layers directory, so anything but the plain id alphabet is refused here.
Status read_build_root(const rapidjson::Value& object, std::optional<BuildRoot>& out) {
  auto it = object.FindMember("build_root");
  if (it == object.MemberEnd() || it->value.IsNull()) return {};
  if (!it->value.IsObject()) return invalid_argument("build_root is not an object");
  BuildRoot root;
  MATCHLOCK_TRY(read_string_array(it->value, "lower", root.lower));
  MATCHLOCK_TRY(read_string(it->value, "upper", root.upper));
  if (root.lower.size() > guest_protocol::kMaxBuildLowerLayers) {
    return invalid_argument("build_root has more than " +
                            std::to_string(guest_protocol::kMaxBuildLowerLayers) + " lower layers");
  }
  for (const auto& id : root.lower) {
    if (!is_valid_layer_id(id)) return invalid_argument("build_root: bad layer id \"" + id + "\"");
  }
  if (!is_valid_layer_id(root.upper)) {
    return invalid_argument("build_root: bad upper layer id \"" + root.upper + "\"");
  }
  for (const auto& id : root.lower) {
    if (id == root.upper) return invalid_argument("build_root: layer " + id + " is also the upper");
  }
  out = std::move(root);
  return {};
}

Status read_builtin(const rapidjson::Value& object, Builtin& out) {
  std::string name;
  MATCHLOCK_TRY(read_string(object, "builtin", name));
  if (name.empty()) {
    out = Builtin::kNone;
  } else if (name == "layer-export") {
    out = Builtin::kLayerExport;
  } else if (name == "layer-apply") {
    out = Builtin::kLayerApply;
  } else if (name == "layer-drop") {
    out = Builtin::kLayerDrop;
  } else {
    return invalid_argument("unknown builtin \"" + name + "\"");
  }
  return {};
}

}  // namespace

bool is_valid_layer_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<ExecRequest> parse_exec_request(std::string_view payload) {
  rapidjson::Document doc;
  doc.Parse(payload.data(), payload.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return invalid_argument("invalid exec request: not a JSON object");
  }
  ExecRequest request;
  for (Status field_status :
       {read_string_array(doc, "argv", request.argv), read_string_array(doc, "env", request.env),
        read_string(doc, "cwd", request.cwd), read_string(doc, "user", request.user),
        read_bool(doc, "tty", request.tty), read_u16(doc, "rows", request.rows),
        read_u16(doc, "cols", request.cols), read_bool(doc, "stdin", request.stdin_open),
        read_bool(doc, "privileged", request.privileged), read_build_root(doc, request.build_root),
        read_builtin(doc, request.builtin)}) {
    if (!field_status.ok()) return field_status.error().with_context("invalid exec request");
  }
  if (request.builtin != Builtin::kNone) {
    if (!request.build_root) {
      return invalid_argument("invalid exec request: a builtin needs build_root.upper");
    }
    if (!request.build_root->lower.empty()) {
      return invalid_argument("invalid exec request: a builtin takes no lower layers");
    }
    if (request.tty) return invalid_argument("invalid exec request: a builtin has no tty");
    return request;
  }
  if (request.argv.empty()) return invalid_argument("invalid exec request: argv is empty");
  // No cwd from the host (no -w, no image WORKDIR, no mounts): the root. (The workspace is
  // always mounted now, so its mere existence says nothing; the host picks it when it has mounts.)
  if (request.cwd.empty()) request.cwd = "/";
  return request;
}

}  // namespace matchlock::guest_agent
