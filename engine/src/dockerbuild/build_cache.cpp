#include "dockerbuild/build_cache.h"

#include <fcntl.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/json.h"
#include "core/paths.h"
#include "image/digest.h"

namespace matchlock::dockerbuild {
namespace {

namespace fs = std::filesystem;

constexpr int kFormatVersion = 1;
// An entry is well under 1 KiB; anything bigger is not ours.
constexpr size_t kMaxEntryBytes = 4096;

bool is_key(std::string_view key) {
  if (key.size() != 64) return false;
  for (char c : key) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::optional<std::string> read_small_file(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return std::nullopt;
  std::string out;
  char buf[1024];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxEntryBytes) return std::nullopt;
  }
  return out;
}

std::optional<CacheEntry> parse_entry(std::string_view json) {
  json::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
  auto version = doc.FindMember("version");
  if (version == doc.MemberEnd() || !version->value.IsInt() ||
      version->value.GetInt() != kFormatVersion) {
    return std::nullopt;
  }
  auto layer = doc.FindMember("layer");
  if (layer == doc.MemberEnd()) return std::nullopt;
  CacheEntry e;
  if (auto created = doc.FindMember("created"); created != doc.MemberEnd()) {
    if (!created->value.IsInt64()) return std::nullopt;
    e.created_unix = created->value.GetInt64();
  }
  if (layer->value.IsNull()) {
    e.no_layer = true;
    return e;
  }
  if (!layer->value.IsObject()) return std::nullopt;
  const auto& l = layer->value;
  auto text = [&](const char* key) -> std::string {
    auto it = l.FindMember(key);
    return it != l.MemberEnd() && it->value.IsString()
               ? std::string(it->value.GetString(), it->value.GetStringLength())
               : std::string();
  };
  e.digest = text("digest");
  e.diff_id = text("diff_id");
  auto size = l.FindMember("size");
  if (size == l.MemberEnd() || !size->value.IsInt64() || size->value.GetInt64() < 0) {
    return std::nullopt;
  }
  e.size = size->value.GetInt64();
  if (!image::is_sha256_digest(e.digest) || !image::is_sha256_digest(e.diff_id)) {
    return std::nullopt;
  }
  return e;
}

std::string entry_json(const CacheEntry& e) {
  rapidjson::StringBuffer buf;
  json::Writer w(buf);
  w.StartObject();
  w.Key("version");
  w.Int(kFormatVersion);
  w.Key("created");
  w.Int64(e.created_unix);
  w.Key("layer");
  if (e.no_layer) {
    w.Null();
  } else {
    w.StartObject();
    w.Key("digest");
    w.String(e.digest.c_str(), static_cast<rapidjson::SizeType>(e.digest.size()));
    w.Key("diff_id");
    w.String(e.diff_id.c_str(), static_cast<rapidjson::SizeType>(e.diff_id.size()));
    w.Key("size");
    w.Int64(e.size);
    w.EndObject();
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error(std::string("write: ") + std::strerror(errno));
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

}  // namespace

Result<BuildCache> BuildCache::open(const fs::path& dir) {
  MATCHLOCK_TRY(ensure_private_dir(dir, 0700));
  return BuildCache(dir);
}

std::string BuildCache::key(std::string_view parent_key, std::string_view cache_text,
                            std::string_view input_digest) {
  image::Sha256 h;
  auto part = [&](std::string_view s) {
    std::string len = std::to_string(s.size()) + ":";
    h.update(len.data(), len.size());
    h.update(s.data(), s.size());
  };
  part("matchlock-build-cache-v1");
  part(parent_key);
  part(cache_text);
  part(input_digest);
  return image::digest_hex(h.finish());
}

fs::path BuildCache::entry_path(std::string_view key) const {
  return dir_ / std::string(key.substr(0, 2)) / (std::string(key) + ".json");
}

std::optional<CacheEntry> BuildCache::lookup(std::string_view key,
                                             const image::ContentStore& blobs) const {
  if (!is_key(key)) return std::nullopt;
  auto json = read_small_file(entry_path(key));
  if (!json) return std::nullopt;
  auto entry = parse_entry(*json);
  if (!entry || entry->no_layer) return entry;
  struct stat st {};
  if (!blobs.contains(entry->digest) || ::stat(blobs.path(entry->digest).c_str(), &st) != 0 ||
      st.st_size != entry->size) {
    return std::nullopt;
  }
  return entry;
}

Status BuildCache::store(std::string_view key, const CacheEntry& entry) const {
  if (!is_key(key))
    return invalid_argument("build cache: malformed key \"" + std::string(key) + "\"");
  if (!entry.no_layer && (!image::is_sha256_digest(entry.digest) ||
                          !image::is_sha256_digest(entry.diff_id) || entry.size < 0)) {
    return invalid_argument("build cache: malformed entry for layer " + entry.digest);
  }
  const fs::path path = entry_path(key);
  MATCHLOCK_TRY(ensure_private_dir(path.parent_path(), 0700));
  auto tmp = image::make_temp_file(path.parent_path(), ".tmp-");
  if (!tmp) return tmp.error();
  struct Unlink {
    fs::path p;
    ~Unlink() {
      if (!p.empty()) ::unlink(p.c_str());
    }
  } guard{tmp->second};
  MATCHLOCK_TRY(write_all(tmp->first.get(), entry_json(entry)));
  if (::fsync(tmp->first.get()) != 0) {
    return io_error("fsync " + guard.p.string() + ": " + std::strerror(errno));
  }
  tmp->first.reset();
  if (::rename(guard.p.c_str(), path.c_str()) != 0) {
    return io_error("rename to " + path.string() + ": " + std::strerror(errno));
  }
  guard.p.clear();
  return {};
}

}  // namespace matchlock::dockerbuild
