#include "image/image_config.h"

#include <rapidjson/document.h>

#include "core/json.h"
#include "image/digest.h"

namespace matchlock::image {
namespace {

Result<rapidjson::Document> parse_json(std::string_view json) {
  if (json.size() > kMaxJsonBytes) return invalid_argument("image config larger than 4 MiB");
  json::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return invalid_argument("image config is not a JSON object");
  }
  return doc;
}

Status read_string(const rapidjson::Value& obj, const char* key, std::string& out) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || it->value.IsNull()) return {};
  if (!it->value.IsString())
    return invalid_argument(std::string("config.") + key + " is not a string");
  out.assign(it->value.GetString(), it->value.GetStringLength());
  return {};
}

Status read_strings(const rapidjson::Value& obj, const char* key, std::vector<std::string>& out) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || it->value.IsNull()) return {};
  if (!it->value.IsArray())
    return invalid_argument(std::string("config.") + key + " is not an array");
  for (const auto& v : it->value.GetArray()) {
    if (!v.IsString())
      return invalid_argument(std::string("config.") + key + " holds a non-string");
    out.emplace_back(v.GetString(), v.GetStringLength());
  }
  return {};
}

}  // namespace

Result<ImageConfig> parse_image_config(std::string_view json) {
  auto doc = parse_json(json);
  if (!doc) return doc.error();
  ImageConfig cfg;
  auto it = doc->FindMember("config");
  if (it == doc->MemberEnd() || it->value.IsNull()) return cfg;
  if (!it->value.IsObject()) return invalid_argument("image config: config is not an object");
  const auto& c = it->value;
  MATCHLOCK_TRY(read_string(c, "User", cfg.user));
  MATCHLOCK_TRY(read_string(c, "WorkingDir", cfg.working_dir));
  MATCHLOCK_TRY(read_strings(c, "Entrypoint", cfg.entrypoint));
  MATCHLOCK_TRY(read_strings(c, "Cmd", cfg.cmd));
  MATCHLOCK_TRY(read_strings(c, "Env", cfg.env));
  return cfg;
}

Result<std::vector<std::string>> parse_diff_ids(std::string_view json) {
  auto doc = parse_json(json);
  if (!doc) return doc.error();
  std::vector<std::string> out;
  auto rootfs = doc->FindMember("rootfs");
  if (rootfs == doc->MemberEnd() || !rootfs->value.IsObject()) return out;
  MATCHLOCK_TRY(read_strings(rootfs->value, "diff_ids", out));
  // The config comes from a registry or an archive: a diff_id is checked like every digest
  // before it names layers in builds and their cache.
  for (const auto& id : out) {
    if (!is_sha256_digest(id))
      return invalid_argument("config.rootfs.diff_ids holds an invalid digest");
  }
  return out;
}

}  // namespace matchlock::image
