#include "image/manifest.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/json.h"
#include "image/digest.h"
#include "image/image_config.h"

namespace matchlock::image {
namespace {

constexpr size_t kMaxLayers = 256;
constexpr size_t kMaxIndexEntries = 4096;

Result<rapidjson::Document> parse_object(std::string_view json, const char* what) {
  if (json.size() > kMaxJsonBytes)
    return invalid_argument(std::string(what) + " larger than 4 MiB");
  json::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return invalid_argument(std::string(what) + " is not a JSON object");
  }
  return doc;
}

std::string get_string(const rapidjson::Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

Result<Descriptor> parse_descriptor(const rapidjson::Value& v, const char* what) {
  if (!v.IsObject()) return invalid_argument(std::string(what) + " descriptor is not an object");
  Descriptor d;
  d.media_type = get_string(v, "mediaType");
  d.digest = get_string(v, "digest");
  if (!is_sha256_digest(d.digest)) {
    return invalid_argument(std::string(what) + " has unsupported digest \"" + d.digest + "\"");
  }
  auto size = v.FindMember("size");
  if (size == v.MemberEnd() || !size->value.IsInt64() || size->value.GetInt64() < 0) {
    return invalid_argument(std::string(what) + " " + d.digest + " has no valid size");
  }
  d.size = size->value.GetInt64();
  if (auto p = v.FindMember("platform"); p != v.MemberEnd() && p->value.IsObject()) {
    d.os = get_string(p->value, "os");
    d.architecture = get_string(p->value, "architecture");
    d.variant = get_string(p->value, "variant");
  }
  if (auto a = v.FindMember("annotations"); a != v.MemberEnd() && a->value.IsObject()) {
    d.attestation = get_string(a->value, "vnd.docker.reference.type") == "attestation-manifest";
  }
  if (d.os == "unknown" && d.architecture == "unknown") d.attestation = true;
  return d;
}

void write_descriptor(json::Writer& w, const Descriptor& d) {
  w.StartObject();
  w.Key("mediaType");
  w.String(d.media_type.c_str(), static_cast<rapidjson::SizeType>(d.media_type.size()));
  w.Key("digest");
  w.String(d.digest.c_str(), static_cast<rapidjson::SizeType>(d.digest.size()));
  w.Key("size");
  w.Int64(d.size);
  w.EndObject();
}

}  // namespace

bool is_index_media_type(std::string_view mt) {
  return mt == media_type::kOciIndex || mt == media_type::kDockerManifestList;
}
bool is_manifest_media_type(std::string_view mt) {
  return mt == media_type::kOciManifest || mt == media_type::kDockerManifest;
}
bool is_layer_media_type(std::string_view mt) {
  return mt.starts_with("application/vnd.oci.image.layer.") ||
         mt.starts_with("application/vnd.docker.image.rootfs.");
}

Result<Manifest> parse_manifest(std::string_view json) {
  auto doc = parse_object(json, "manifest");
  if (!doc) return doc.error();
  auto sv = doc->FindMember("schemaVersion");
  if (sv == doc->MemberEnd() || !sv->value.IsInt() || sv->value.GetInt() != 2) {
    return invalid_argument("manifest is not schemaVersion 2");
  }
  std::string mt = get_string(*doc, "mediaType");
  if (!mt.empty() && !is_manifest_media_type(mt)) {
    return invalid_argument("unsupported manifest media type \"" + mt + "\"");
  }
  Manifest m;
  auto cfg = doc->FindMember("config");
  if (cfg == doc->MemberEnd()) return invalid_argument("manifest has no config");
  auto c = parse_descriptor(cfg->value, "config");
  if (!c) return c.error();
  m.config = std::move(*c);
  if (m.config.size > static_cast<int64_t>(kMaxJsonBytes)) {
    return invalid_argument("image config larger than 4 MiB");
  }
  auto layers = doc->FindMember("layers");
  if (layers == doc->MemberEnd() || !layers->value.IsArray()) {
    return invalid_argument("manifest has no layers array");
  }
  if (layers->value.Size() > kMaxLayers) return invalid_argument("manifest has too many layers");
  for (const auto& l : layers->value.GetArray()) {
    auto d = parse_descriptor(l, "layer");
    if (!d) return d.error();
    if (!is_layer_media_type(d->media_type)) {
      return invalid_argument("unsupported layer media type \"" + d->media_type + "\"");
    }
    m.layers.push_back(std::move(*d));
  }
  return m;
}

bool looks_like_index(std::string_view json) {
  auto doc = parse_object(json, "index");
  return doc && doc->HasMember("manifests");
}

Result<std::vector<Descriptor>> parse_index(std::string_view json) {
  auto doc = parse_object(json, "index");
  if (!doc) return doc.error();
  auto ms = doc->FindMember("manifests");
  if (ms == doc->MemberEnd() || !ms->value.IsArray()) {
    return invalid_argument("index has no manifests array");
  }
  if (ms->value.Size() > kMaxIndexEntries) return invalid_argument("index has too many entries");
  std::vector<Descriptor> out;
  for (const auto& v : ms->value.GetArray()) {
    auto d = parse_descriptor(v, "index entry");
    if (!d) return d.error();
    out.push_back(std::move(*d));
  }
  return out;
}

Result<Descriptor> select_platform(const std::vector<Descriptor>& entries, std::string_view os,
                                   std::string_view architecture) {
  const Descriptor* untagged = nullptr;
  for (const auto& d : entries) {
    if (d.attestation) continue;
    if (!d.media_type.empty() && !is_manifest_media_type(d.media_type) &&
        !is_index_media_type(d.media_type)) {
      continue;
    }
    if (d.os == os && d.architecture == architecture) return d;
    if (d.os.empty() && d.architecture.empty()) {
      if (!untagged) untagged = &d;
    }
  }
  if (untagged) return *untagged;  // layout index.json entries usually carry no platform
  return not_found("no image for platform " + std::string(os) + "/" + std::string(architecture));
}

std::string build_oci_manifest(const Descriptor& config, const std::vector<Descriptor>& layers) {
  rapidjson::StringBuffer buf;
  json::Writer w(buf);
  w.StartObject();
  w.Key("schemaVersion");
  w.Int(2);
  w.Key("mediaType");
  w.String(media_type::kOciManifest.data(),
           static_cast<rapidjson::SizeType>(media_type::kOciManifest.size()));
  w.Key("config");
  write_descriptor(w, config);
  w.Key("layers");
  w.StartArray();
  for (const auto& l : layers) write_descriptor(w, l);
  w.EndArray();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

std::string_view layer_media_type_for_magic(const unsigned char* head, size_t len) {
  if (len >= 2 && head[0] == 0x1f && head[1] == 0x8b) return media_type::kOciLayerGzip;
  if (len >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd) {
    return media_type::kOciLayerZstd;
  }
  return media_type::kOciLayerTar;
}

}  // namespace matchlock::image
