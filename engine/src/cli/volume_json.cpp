#include "cli/volume_json.h"

#include "core/json.h"

namespace matchlock::cli {
namespace {

rapidjson::Value volume_object(const volume::VolumeInfo& v, rapidjson::Document::AllocatorType& a) {
  rapidjson::Value o(rapidjson::kObjectType);
  o.AddMember("name", json::str(v.name, a), a);
  o.AddMember("size", json::str(volume::size_text(v.size_bytes), a), a);
  o.AddMember("path", json::str(v.path.string(), a), a);
  return o;
}

}  // namespace

std::string volume_json(const volume::VolumeInfo& v) {
  rapidjson::Document d;
  return json::to_string(volume_object(v, d.GetAllocator()));
}

std::string volumes_json(const std::vector<volume::VolumeInfo>& vs) {
  rapidjson::Document d(rapidjson::kArrayType);
  for (const auto& v : vs) d.PushBack(volume_object(v, d.GetAllocator()), d.GetAllocator());
  return json::to_string(d);
}

}  // namespace matchlock::cli
