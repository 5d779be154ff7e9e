#include "image/archive_reader.h"

#include <rapidjson/document.h>

#include <map>
#include <optional>
#include <vector>

#include "core/json.h"
#include "image/archive_util.h"
#include "image/digest.h"
#include "image/image_config.h"
#include "image/reference.h"

namespace matchlock::image {
namespace {

constexpr size_t kMaxJsonTotalBytes = 64 * 1024 * 1024;  // all small JSON-looking entries
constexpr size_t kMaxEntries = 1'000'000;
constexpr int kMaxLinkHops = 16;
constexpr int kMaxIndexDepth = 4;

struct EntryInfo {
  enum class Kind { kFile, kSymlink, kHardlink, kOther } kind = Kind::kOther;
  int64_t size = 0;
  std::string target;
  size_t ordinal = 0;  // position in the archive; the last entry of a path wins, like tar
};

// Lexical normalisation confined to the archive root: no "..", no leading "/" or "./".
std::optional<std::string> clean_path(std::string_view p) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    std::string_view part = p.substr(i, j - i);
    if (part == "..") {
      if (parts.empty()) return std::nullopt;
      parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    i = j + 1;
  }
  std::string out;
  for (auto part : parts) {
    if (!out.empty()) out += '/';
    out += part;
  }
  return out;
}

std::string parent_of(const std::string& p) {
  size_t slash = p.rfind('/');
  return slash == std::string::npos ? std::string() : p.substr(0, slash);
}

Result<ArchiveReader> open_archive(const std::filesystem::path& path) {
  ArchiveReader a(archive_read_new());
  if (!a) return io_error("libarchive: out of memory");
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK) {
    return invalid_argument("cannot read archive: " + archive_error_text(a.get()));
  }
  return a;
}

// Everything pass 1 learns about the archive.
class ArchiveIndex {
 public:
  Status scan(const std::filesystem::path& path) {
    auto a = open_archive(path);
    if (!a) return a.error();
    archive_entry* e = nullptr;
    size_t ordinal = 0;
    while (true) {
      int r = archive_read_next_header(a->get(), &e);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN)
        return invalid_argument("corrupt archive: " + archive_error_text(a->get()));
      if (++ordinal > kMaxEntries) return invalid_argument("archive has too many entries");
      const char* raw = archive_entry_pathname(e);
      auto name = clean_path(raw ? raw : "");
      if (!name || name->empty()) continue;  // unreachable from manifests anyway
      EntryInfo info;
      info.ordinal = ordinal;
      if (const char* hl = archive_entry_hardlink(e)) {
        info.kind = EntryInfo::Kind::kHardlink;
        info.target = hl;
      } else if (archive_entry_filetype(e) == AE_IFLNK) {
        info.kind = EntryInfo::Kind::kSymlink;
        const char* t = archive_entry_symlink(e);
        info.target = t ? t : "";
      } else if (archive_entry_filetype(e) == AE_IFREG) {
        info.kind = EntryInfo::Kind::kFile;
        info.size = archive_entry_size(e);
        if (info.size >= 0 && static_cast<size_t>(info.size) <= kMaxJsonBytes) {
          MATCHLOCK_TRY(keep_if_json(a->get(), *name, static_cast<size_t>(info.size)));
        }
      }
      entries_[*name] = std::move(info);
    }
    return {};
  }

  bool has(const std::string& p) const { return entries_.count(p) != 0; }

  // Follows symlink and hardlink entries (inside the archive only) to a regular file entry.
  Result<std::string> resolve(const std::string& ref) const {
    auto cur = clean_path(ref);
    if (!cur) return invalid_argument("path \"" + ref + "\" escapes the archive");
    for (int hop = 0; hop <= kMaxLinkHops; ++hop) {
      auto it = entries_.find(*cur);
      if (it == entries_.end()) return not_found("archive has no entry \"" + *cur + "\"");
      const EntryInfo& info = it->second;
      switch (info.kind) {
        case EntryInfo::Kind::kFile:
          return *cur;
        case EntryInfo::Kind::kSymlink:
          cur = clean_path(info.target.starts_with('/') ? info.target
                                                        : parent_of(*cur) + "/" + info.target);
          break;
        case EntryInfo::Kind::kHardlink:
          cur = clean_path(info.target);
          break;
        case EntryInfo::Kind::kOther:
          return invalid_argument("archive entry \"" + *cur + "\" is not a file");
      }
      if (!cur) return invalid_argument("link in archive escapes the archive: " + ref);
    }
    return invalid_argument("too many links resolving \"" + ref + "\" in archive");
  }

  Result<std::string> json(const std::string& ref) const {
    auto p = resolve(ref);
    if (!p) return p.error();
    auto it = json_.find(*p);
    if (it == json_.end())
      return invalid_argument("\"" + ref + "\" is not a JSON document of at most 4 MiB");
    return it->second;
  }

  size_t ordinal(const std::string& resolved) const { return entries_.at(resolved).ordinal; }
  int64_t size(const std::string& resolved) const { return entries_.at(resolved).size; }

 private:
  Status keep_if_json(archive* a, const std::string& name, size_t size) {
    std::string data(size, '\0');
    la_ssize_t n = size ? archive_read_data(a, data.data(), size) : 0;
    if (n < 0)
      return invalid_argument("corrupt archive entry " + name + ": " + archive_error_text(a));
    data.resize(static_cast<size_t>(n));
    size_t first = data.find_first_not_of(" \t\r\n");
    if (first == std::string::npos || (data[first] != '{' && data[first] != '[')) return {};
    json_total_ += data.size();
    if (json_total_ > kMaxJsonTotalBytes)
      return invalid_argument("archive holds too much JSON metadata");
    json_[name] = std::move(data);
    return {};
  }

  std::map<std::string, EntryInfo> entries_;
  std::map<std::string, std::string> json_;
  size_t json_total_ = 0;
};

std::string blob_path(const std::string& digest) {
  return "blobs/sha256/" + digest_hex(digest);
}

// A layer the second pass must stream into the store.
struct LayerWant {
  std::string path;             // resolved archive path
  std::string expected_digest;  // empty for docker-save layers (digest is computed)
  int64_t expected_size = -1;
};

// What pass 1 decided: the manifest (if the archive has one), the config and the layers.
struct Plan {
  std::string manifest_json;  // empty for docker-save: synthesised after layers are hashed
  std::string manifest_digest;
  Descriptor config;
  std::string config_json;
  std::vector<LayerWant> layers;
  std::vector<Descriptor> layer_descriptors;  // known up front for OCI layouts
};

Result<std::string> verified_json(const ArchiveIndex& idx, const Descriptor& d) {
  auto json = idx.json(blob_path(d.digest));
  if (!json) return json.error().with_context("blob " + d.digest);
  if (static_cast<int64_t>(json->size()) != d.size || sha256_digest(*json) != d.digest) {
    return invalid_argument("blob " + d.digest + " does not match its digest or size");
  }
  return json;
}

Result<Plan> plan_oci_layout(const ArchiveIndex& idx) {
  auto index_json = idx.json("index.json");
  if (!index_json) return index_json.error();
  auto entries = parse_index(*index_json);
  if (!entries) return entries.error().with_context("index.json");
  auto chosen = select_platform(*entries);
  if (!chosen) return chosen.error().with_context("index.json");
  Descriptor d = *chosen;
  for (int depth = 0;; ++depth) {
    if (depth > kMaxIndexDepth) return invalid_argument("image indexes nested too deeply");
    auto json = verified_json(idx, d);
    if (!json) return json.error();
    bool is_index =
        is_index_media_type(d.media_type) || (d.media_type.empty() && looks_like_index(*json));
    if (!is_index) {
      auto m = parse_manifest(*json);
      if (!m) return m.error().with_context("manifest " + d.digest);
      Plan plan;
      plan.manifest_json = std::move(*json);
      plan.manifest_digest = d.digest;
      plan.config = m->config;
      auto cfg = verified_json(idx, m->config);
      if (!cfg) return cfg.error();
      plan.config_json = std::move(*cfg);
      for (const auto& l : m->layers) {
        auto p = idx.resolve(blob_path(l.digest));
        if (!p) return p.error().with_context("layer " + l.digest);
        plan.layers.push_back({*p, l.digest, l.size});
      }
      plan.layer_descriptors = m->layers;
      return plan;
    }
    auto children = parse_index(*json);
    if (!children) return children.error().with_context("index " + d.digest);
    auto next = select_platform(*children);
    if (!next) return next.error().with_context("index " + d.digest);
    d = *next;
  }
}

Result<Plan> plan_docker_save(const ArchiveIndex& idx, const std::string& tag) {
  auto json = idx.json("manifest.json");
  if (!json) return json.error();
  json::Document doc;
  doc.Parse(json->data(), json->size());
  if (doc.HasParseError() || !doc.IsArray() || doc.Empty()) {
    return invalid_argument("manifest.json is not a non-empty JSON array");
  }
  const rapidjson::Value* pick = nullptr;
  for (const auto& img : doc.GetArray()) {
    if (!img.IsObject()) return invalid_argument("manifest.json entry is not an object");
    auto tags = img.FindMember("RepoTags");
    if (tags == img.MemberEnd() || !tags->value.IsArray()) continue;
    for (const auto& t : tags->value.GetArray()) {
      if (!t.IsString()) continue;
      auto norm = normalize_reference(t.GetString());
      if (norm && *norm == tag) pick = &img;
    }
  }
  if (!pick) {
    if (doc.Size() > 1) {
      return invalid_argument("archive holds " + std::to_string(doc.Size()) +
                              " images, none tagged " + tag);
    }
    pick = &doc[0];
  }
  auto cfg_it = pick->FindMember("Config");
  auto layers_it = pick->FindMember("Layers");
  if (cfg_it == pick->MemberEnd() || !cfg_it->value.IsString() || layers_it == pick->MemberEnd() ||
      !layers_it->value.IsArray()) {
    return invalid_argument("manifest.json entry lacks Config or Layers");
  }
  Plan plan;
  auto cfg = idx.json(cfg_it->value.GetString());
  if (!cfg) return cfg.error().with_context("config");
  plan.config_json = std::move(*cfg);
  plan.config.media_type = media_type::kOciConfig;
  plan.config.digest = sha256_digest(plan.config_json);
  plan.config.size = static_cast<int64_t>(plan.config_json.size());
  if (layers_it->value.Size() > 256) return invalid_argument("manifest.json lists too many layers");
  for (const auto& l : layers_it->value.GetArray()) {
    if (!l.IsString()) return invalid_argument("manifest.json layer is not a string");
    auto p = idx.resolve(l.GetString());
    if (!p) return p.error().with_context("layer");
    plan.layers.push_back({*p, "", idx.size(*p)});
  }
  return plan;
}

// Pass 2: streams the wanted layer entries into the store.
Result<std::map<std::string, BlobInfo>> stream_layers(
    const std::filesystem::path& path, const ArchiveIndex& idx, const std::vector<LayerWant>& wants,
    const ContentStore& store, std::vector<BlobInfo>& written,
    std::map<std::string, std::string>& magic_type) {
  std::map<size_t, const LayerWant*> by_ordinal;
  for (const auto& w : wants) by_ordinal[idx.ordinal(w.path)] = &w;
  std::map<std::string, BlobInfo> done;
  auto a = open_archive(path);
  if (!a) return a.error();
  archive_entry* e = nullptr;
  std::vector<char> buf(1 << 16);
  for (size_t ordinal = 1; done.size() < by_ordinal.size(); ++ordinal) {
    int r = archive_read_next_header(a->get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN)
      return invalid_argument("corrupt archive: " + archive_error_text(a->get()));
    auto it = by_ordinal.find(ordinal);
    if (it == by_ordinal.end()) continue;
    const LayerWant& want = *it->second;
    auto writer = store.begin_write();
    if (!writer) return writer.error();
    unsigned char head[4] = {};
    size_t head_len = 0;
    while (true) {
      la_ssize_t n = archive_read_data(a->get(), buf.data(), buf.size());
      if (n < 0)
        return invalid_argument("corrupt archive entry " + want.path + ": " +
                                archive_error_text(a->get()));
      if (n == 0) break;
      for (la_ssize_t i = 0; i < n && head_len < sizeof head; ++i)
        head[head_len++] = static_cast<unsigned char>(buf[i]);
      MATCHLOCK_TRY(writer->write(buf.data(), static_cast<size_t>(n)));
    }
    auto info = writer->commit(want.expected_digest, want.expected_size);
    if (!info) return info.error().with_context("layer " + want.path);
    written.push_back(*info);
    magic_type[want.path] = std::string(layer_media_type_for_magic(head, head_len));
    done[want.path] = *info;
  }
  if (done.size() < by_ordinal.size())
    return invalid_argument("archive ended before all layers were read");
  return done;
}

}  // namespace

Result<ArchiveImage> read_image_archive(const std::filesystem::path& archive_path,
                                        const ContentStore& store, const std::string& tag,
                                        std::vector<BlobInfo>& written) {
  ScopedUtf8Locale utf8;
  ArchiveIndex idx;
  MATCHLOCK_TRY(idx.scan(archive_path));

  Result<Plan> plan =
      invalid_argument("not a docker-save or OCI archive (no manifest.json or index.json)");
  if (idx.has("oci-layout") && idx.has("index.json")) {
    plan = plan_oci_layout(idx);
    // Docker 25+ archives carry both shapes; fall back only if the layout lacks the chosen
    // blobs (never on a digest mismatch: manifest.json paths are not digest-checked).
    if (!plan && plan.error().code == ErrorCode::kNotFound && idx.has("manifest.json")) {
      auto docker = plan_docker_save(idx, tag);
      if (docker) plan = std::move(docker);
    }
  } else if (idx.has("manifest.json")) {
    plan = plan_docker_save(idx, tag);
  }
  if (!plan) return plan.error();

  ArchiveImage out;
  std::map<std::string, std::string> magic_type;
  auto blobs = stream_layers(archive_path, idx, plan->layers, store, written, magic_type);
  if (!blobs) return blobs.error();

  out.config = plan->config;
  out.config_json = plan->config_json;
  if (!plan->manifest_json.empty()) {
    out.layers = plan->layer_descriptors;
    out.manifest_digest = plan->manifest_digest;
  } else {
    auto diff_ids = parse_diff_ids(plan->config_json);
    if (!diff_ids) return diff_ids.error();
    for (size_t i = 0; i < plan->layers.size(); ++i) {
      const BlobInfo& b = blobs->at(plan->layers[i].path);
      Descriptor d;
      d.media_type = magic_type.at(plan->layers[i].path);
      d.digest = b.digest;
      d.size = b.size;
      // An uncompressed layer's digest is its diff_id: a cheap integrity check of the archive.
      if (d.media_type == media_type::kOciLayerTar && diff_ids->size() == plan->layers.size() &&
          (*diff_ids)[i] != d.digest) {
        return invalid_argument("layer " + std::to_string(i + 1) + " (" + plan->layers[i].path +
                                ") does not match diff_id " + (*diff_ids)[i]);
      }
      out.layers.push_back(std::move(d));
    }
    plan->manifest_json = build_oci_manifest(out.config, out.layers);
    out.manifest_digest = sha256_digest(plan->manifest_json);
  }
  auto cfg = store.put(out.config_json, out.config.digest);
  if (!cfg) return cfg.error();
  written.push_back(*cfg);
  auto man = store.put(plan->manifest_json, out.manifest_digest);
  if (!man) return man.error();
  written.push_back(*man);
  return out;
}

}  // namespace matchlock::image
