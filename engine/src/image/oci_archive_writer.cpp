#include "image/oci_archive_writer.h"

#include <fcntl.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "image/archive_util.h"
#include "image/digest.h"
#include "image/manifest.h"
#include "image/reference.h"

namespace matchlock::image {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kOciLayout = R"({"imageLayoutVersion":"1.0.0"})";

struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

// Every entry is owned by root with mtime 0, so equal images give equal archives.
Status write_header(archive* a, const std::string& path, mode_t type, int perm, int64_t size) {
  std::unique_ptr<archive_entry, EntryFree> e(archive_entry_new());
  if (!e) return io_error("libarchive: out of memory");
  archive_entry_set_pathname(e.get(), path.c_str());
  archive_entry_set_filetype(e.get(), type);
  archive_entry_set_perm(e.get(), perm);
  archive_entry_set_size(e.get(), size);
  archive_entry_set_mtime(e.get(), 0, 0);
  if (archive_write_header(a, e.get()) != ARCHIVE_OK) {
    return io_error("write archive entry " + path + ": " + archive_error_text(a));
  }
  return {};
}

Status write_data(archive* a, const std::string& path, const char* data, size_t len) {
  while (len > 0) {
    la_ssize_t n = archive_write_data(a, data, len);
    if (n <= 0) return io_error("write archive entry " + path + ": " + archive_error_text(a));
    data += n;
    len -= static_cast<size_t>(n);
  }
  return {};
}

Status write_bytes(archive* a, const std::string& path, std::string_view data) {
  MATCHLOCK_TRY(write_header(a, path, AE_IFREG, 0644, static_cast<int64_t>(data.size())));
  return write_data(a, path, data.data(), data.size());
}

// Copies a blob out of the content store, checking it against its descriptor on the way: an
// archive must never carry a blob that does not match its name.
Status write_blob_file(archive* a, const std::string& path, const Descriptor& d,
                       const ContentStore& blobs) {
  const fs::path src = blobs.path(d.digest);
  UniqueFd fd(::open(src.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    return not_found("blob " + d.digest + " is not in the content store: " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != d.size) {
    return io_error("blob " + d.digest + " in the content store is not " + std::to_string(d.size) +
                    " bytes");
  }
  MATCHLOCK_TRY(write_header(a, path, AE_IFREG, 0644, d.size));
  Sha256 hash;
  std::vector<char> buf(1 << 16);
  int64_t left = d.size;
  while (left > 0) {
    ssize_t n =
        ::read(fd.get(), buf.data(),
               static_cast<size_t>(std::min<int64_t>(left, static_cast<int64_t>(buf.size()))));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("read " + src.string() + ": " + std::strerror(errno));
    if (n == 0) return io_error("blob " + d.digest + " shrank while it was read");
    hash.update(buf.data(), static_cast<size_t>(n));
    MATCHLOCK_TRY(write_data(a, path, buf.data(), static_cast<size_t>(n)));
    left -= n;
  }
  if (hash.finish() != d.digest) {
    return io_error("blob " + d.digest + " in the content store is corrupt: digest mismatch");
  }
  return {};
}

struct IndexName {
  std::string full;  // "docker.io/library/busybox:latest"
  std::string tag;   // "latest"
};

Result<IndexName> index_name(const std::string& name) {
  auto parsed = parse_reference(name);
  if (!parsed) return parsed.error();
  if (!parsed->digest.empty()) {
    return invalid_argument(name + ": the name must be a tag, not a digest");
  }
  // Docker's defaults, as `docker save` and BuildKit write them.
  const bool hub = parsed->domain.empty() || parsed->domain == "docker.io" ||
                   parsed->domain == "index.docker.io";
  std::string full = hub ? "docker.io/" : parsed->domain + "/";
  if (hub && parsed->path.find('/') == std::string::npos) full += "library/";
  full += parsed->path + ":" + parsed->tag;
  return IndexName{std::move(full), parsed->tag};
}

Result<std::string> index_json(const std::vector<std::string>& names,
                               const std::string& manifest_digest, int64_t manifest_size) {
  std::vector<IndexName> entries;
  std::set<std::string> seen;
  for (const auto& name : names) {
    auto n = index_name(name);
    if (!n) return n.error();
    if (seen.insert(n->full).second) entries.push_back(std::move(*n));
  }
  rapidjson::StringBuffer buf;
  json::Writer w(buf);
  auto put = [&](std::string_view s) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  };
  auto descriptor = [&](const IndexName* n) {
    w.StartObject();
    w.Key("mediaType");
    put(media_type::kOciManifest);
    w.Key("digest");
    put(manifest_digest);
    w.Key("size");
    w.Int64(manifest_size);
    if (n) {
      w.Key("annotations");
      w.StartObject();
      w.Key("io.containerd.image.name");
      put(n->full);
      w.Key("org.opencontainers.image.ref.name");
      put(n->tag);
      w.EndObject();
    }
    w.EndObject();
  };
  w.StartObject();
  w.Key("schemaVersion");
  w.Int(2);
  w.Key("mediaType");
  put(media_type::kOciIndex);
  w.Key("manifests");
  w.StartArray();
  if (entries.empty()) descriptor(nullptr);
  for (const auto& n : entries) descriptor(&n);
  w.EndArray();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

struct TempFileGuard {
  fs::path path;
  ~TempFileGuard() {
    if (!path.empty()) ::unlink(path.c_str());
  }
};

}  // namespace

Status write_oci_archive_to_fd(int fd, const OciArchiveImage& image, const ContentStore& blobs) {
  auto manifest = parse_manifest(image.manifest_json);
  if (!manifest) return manifest.error();
  if (sha256_digest(image.config_json) != manifest->config.digest ||
      static_cast<int64_t>(image.config_json.size()) != manifest->config.size) {
    return invalid_argument("the config does not match the manifest's config descriptor");
  }
  const std::string manifest_digest = sha256_digest(image.manifest_json);
  auto index =
      index_json(image.names, manifest_digest, static_cast<int64_t>(image.manifest_json.size()));
  if (!index) return index.error();

  ScopedUtf8Locale utf8;
  ArchiveWriter a(archive_write_new());
  if (!a) return io_error("libarchive: out of memory");
  if (archive_write_set_format_pax_restricted(a.get()) != ARCHIVE_OK ||
      archive_write_open_fd(a.get(), fd) != ARCHIVE_OK) {
    return io_error("start archive: " + archive_error_text(a.get()));
  }
  MATCHLOCK_TRY(write_bytes(a.get(), "oci-layout", kOciLayout));
  MATCHLOCK_TRY(write_bytes(a.get(), "index.json", *index));
  MATCHLOCK_TRY(write_header(a.get(), "blobs/", AE_IFDIR, 0755, 0));
  MATCHLOCK_TRY(write_header(a.get(), "blobs/sha256/", AE_IFDIR, 0755, 0));
  std::set<std::string> written;  // an image may use one layer twice; the layout holds it once
  for (const auto& layer : manifest->layers) {
    if (!written.insert(layer.digest).second) continue;
    MATCHLOCK_TRY(
        write_blob_file(a.get(), "blobs/sha256/" + digest_hex(layer.digest), layer, blobs));
  }
  if (written.insert(manifest->config.digest).second) {
    MATCHLOCK_TRY(write_bytes(a.get(), "blobs/sha256/" + digest_hex(manifest->config.digest),
                              image.config_json));
  }
  MATCHLOCK_TRY(
      write_bytes(a.get(), "blobs/sha256/" + digest_hex(manifest_digest), image.manifest_json));
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    return io_error("finish archive: " + archive_error_text(a.get()));
  }
  return {};
}

Status write_oci_archive(const fs::path& dest, const OciArchiveImage& image,
                         const ContentStore& blobs) {
  auto fail = [&](const Error& e) { return e.with_context("write " + dest.string()); };
  const fs::path dir = dest.has_parent_path() ? dest.parent_path() : fs::path(".");
  auto tmp = make_temp_file(dir, "." + dest.filename().string() + ".tmp-");
  if (!tmp) return fail(tmp.error());
  TempFileGuard guard{tmp->second};
  UniqueFd fd = std::move(tmp->first);
  if (auto st = write_oci_archive_to_fd(fd.get(), image, blobs); !st) return fail(st.error());
  if (::fchmod(fd.get(), 0644) != 0 || ::fsync(fd.get()) != 0) {
    return fail(io_error(std::string("fsync: ") + std::strerror(errno)));
  }
  fd.reset();
  if (::rename(guard.path.c_str(), dest.c_str()) != 0) {
    return fail(io_error(std::string("rename: ") + std::strerror(errno)));
  }
  guard.path.clear();
  if (auto st = fsync_dir(dir); !st) return fail(st.error());
  return {};
}

}  // namespace matchlock::image
