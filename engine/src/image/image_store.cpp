// The local image store: wires the content store, the archive reader, images.db and the
// base-disk builder together, and owns the locking and cleanup rules.
#include "image/image_store.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <set>

#include "core/log.h"
#include "core/paths.h"
#include "core/remove_tree.h"
#include "image/archive_reader.h"
#include "image/built_image.h"
#include "image/content_store.h"
#include "image/digest.h"
#include "image/ext4_builder.h"
#include "image/image_config.h"
#include "image/image_db.h"
#include "image/layer_flattener.h"
#include "image/reference.h"
#include "image/registry/pull.h"
#include "image/store_lock.h"

namespace matchlock::image {
namespace {

namespace fs = std::filesystem;

// Removes a directory tree when it goes out of scope (staging dirs).
struct TreeGuard {
  fs::path path;
  ~TreeGuard() {
    if (path.empty()) return;
    std::error_code ec;
    remove_tree(path, ec);
  }
};

struct FileGuard {
  fs::path path;
  ~FileGuard() {
    if (!path.empty()) ::unlink(path.c_str());
  }
};

class LocalImageStore final : public ImageStore {
 public:
  LocalImageStore(fs::path root, ContentStore blobs, ImageDb db, StoreLock lock)
      : root_(std::move(root)),
        blobs_(std::move(blobs)),
        db_(std::move(db)),
        lock_(std::move(lock)) {}

  Result<ImageRecord> import_archive(const std::string& name, const fs::path& archive) override;
  Result<ImageRecord> find(const std::string& reference) override;
  Result<fs::path> base_disk(const ImageRecord& image) override;
  Result<std::vector<ImageRecord>> list() override;
  Result<ImageParts> parts(const ImageRecord& image) override;
  fs::path blob_path(std::string_view digest) const override { return blobs_.path(digest); }
  Result<PullReport> pull(const std::string& reference, const PullOptions& options) override;
  Status remove(const std::string& reference) override;
  Result<ImageRecord> add_image(const std::vector<std::string>& names,
                                const std::string& manifest_json,
                                const std::string& config_json) override;
  const ContentStore& blobs() const override { return blobs_; }

 private:
  fs::path tmp_dir() const { return root_ / "tmp"; }
  fs::path disk_path(const std::string& digest) const {
    return root_ / "disks" / (digest_hex(digest) + ".ext4");
  }
  Result<ImageRecord> to_record(const StoredImage& s);
  // The row for `name`; the sizes and the time come from the descriptors and the clock.
  static StoredImage stored_image(const std::string& name, const std::string& source,
                                  const std::string& manifest_digest, const Descriptor& config,
                                  const std::vector<Descriptor>& layers);
  // Error unless every layer blob is in the content store with the descriptor's size.
  Status check_layers_present(const std::vector<Descriptor>& layers) const;
  // Writes the row naming a fetched image, once its config parses: an image we cannot run is
  // not worth a row. Import and pull share it.
  Result<StoredImage> record_image(const std::string& name, const std::string& source,
                                   const std::string& manifest_digest, const Descriptor& config,
                                   const std::vector<Descriptor>& layers,
                                   const std::string& config_json);
  // Deletes blobs and disks no tag references, and temp files of dead operations. Takes the
  // store lock exclusively, so call it with no lock held.
  Status collect_garbage();

  fs::path root_;
  ContentStore blobs_;
  ImageDb db_;
  StoreLock lock_;
};

Result<ImageRecord> LocalImageStore::to_record(const StoredImage& s) {
  ImageRecord r;
  r.name = s.name;
  r.digest = s.manifest_digest;
  r.source = s.source;
  r.size = s.size;
  r.created_unix = s.created_unix;
  auto json = blobs_.read_verified(s.config_digest, kMaxJsonBytes);
  if (!json) return json.error().with_context(s.name + ": config");
  auto cfg = parse_image_config(*json);
  if (!cfg) return cfg.error().with_context(s.name);
  r.config = std::move(*cfg);
  return r;
}

StoredImage LocalImageStore::stored_image(const std::string& name, const std::string& source,
                                          const std::string& manifest_digest,
                                          const Descriptor& config,
                                          const std::vector<Descriptor>& layers) {
  StoredImage s;
  s.name = name;
  s.manifest_digest = manifest_digest;
  s.config_digest = config.digest;
  s.config_size = config.size;
  s.layers = layers;
  for (const auto& l : layers) s.size += l.size;
  s.created_unix = static_cast<int64_t>(std::time(nullptr));
  s.source = source;
  return s;
}

Result<StoredImage> LocalImageStore::record_image(const std::string& name,
                                                  const std::string& source,
                                                  const std::string& manifest_digest,
                                                  const Descriptor& config,
                                                  const std::vector<Descriptor>& layers,
                                                  const std::string& config_json) {
  if (auto cfg = parse_image_config(config_json); !cfg) return cfg.error();
  StoredImage s = stored_image(name, source, manifest_digest, config, layers);
  MATCHLOCK_TRY(db_.put(s));
  return s;
}

Status LocalImageStore::check_layers_present(const std::vector<Descriptor>& layers) const {
  for (const auto& l : layers) {
    struct stat st {};
    if (!blobs_.contains(l.digest) || ::stat(blobs_.path(l.digest).c_str(), &st) != 0) {
      return not_found("layer " + l.digest + " is not in the content store");
    }
    if (st.st_size != l.size) {
      return io_error("layer " + l.digest + " is " + std::to_string(st.st_size) +
                      " bytes in the content store, the manifest says " + std::to_string(l.size));
    }
  }
  return {};
}

Result<ImageRecord> LocalImageStore::add_image(const std::vector<std::string>& names,
                                               const std::string& manifest_json,
                                               const std::string& config_json) {
  auto checked = check_built_image(names, manifest_json, config_json);
  if (!checked) return checked.error();
  const std::string& first = checked->names.front();
  std::vector<StoredImage> rows;
  for (const auto& name : checked->names) {
    rows.push_back(stored_image(name, "build", checked->manifest_digest, checked->manifest.config,
                                checked->manifest.layers));
  }
  Status recorded = [&]() -> Status {
    // Shared: garbage collection (exclusive) must not run between the checks and the rows.
    auto held = lock_.shared();
    if (!held) return held.error();
    MATCHLOCK_TRY(check_layers_present(checked->manifest.layers));
    if (auto c = blobs_.put(config_json, checked->manifest.config.digest); !c) return c.error();
    if (auto m = blobs_.put(manifest_json, checked->manifest_digest); !m) return m.error();
    return db_.put_all(rows);
  }();
  // No garbage collection on failure either: the layers belong to the build cache, and a
  // config or manifest blob left behind goes with the next collection.
  if (!recorded) return recorded.error().with_context(first);
  return to_record(rows.front());
}

Result<ImageRecord> LocalImageStore::import_archive(const std::string& name,
                                                    const fs::path& archive) {
  auto parsed = parse_reference(name);
  if (!parsed) return parsed.error();
  if (!parsed->digest.empty()) {
    return invalid_argument("import " + name + ": the name must be a tag, not a digest");
  }
  const std::string tag = parsed->to_string();
  std::vector<BlobInfo> written;
  Result<StoredImage> stored = [&]() -> Result<StoredImage> {
    auto held = lock_.shared();
    if (!held) return held.error();
    auto img = read_image_archive(archive, blobs_, tag, written);
    if (!img) return img.error();
    return record_image(tag, "import", img->manifest_digest, img->config, img->layers,
                        img->config_json);
  }();
  if (!stored) {
    // Blobs this import put may now be referenced by nothing: collect them (best effort).
    if (!written.empty()) (void)collect_garbage();
    return stored.error().with_context(tag);
  }
  // A re-tag may have orphaned the previous image's blobs and disk.
  (void)collect_garbage();
  auto rec = to_record(*stored);
  if (!rec) return rec.error();
  return rec;
}

Result<PullReport> LocalImageStore::pull(const std::string& reference, const PullOptions& options) {
  auto parsed = parse_reference(reference);
  if (!parsed) return parsed.error().with_context("pull");
  const std::string name = parsed->to_string();
  PullReport report;
  Result<StoredImage> stored = [&]() -> Result<StoredImage> {
    // Shared: garbage collection (exclusive) must not delete blobs before the row exists.
    auto held = lock_.shared();
    if (!held) return held.error();
    auto img = registry::pull_to_store(*parsed, blobs_, tmp_dir(), options);
    if (!img) return img.error();
    report.bytes_downloaded = img->bytes_downloaded;
    report.blobs_downloaded = img->blobs_downloaded;
    report.blobs_present = img->blobs_present;
    return record_image(name, "pull", img->manifest_digest, img->config, img->layers,
                        img->config_json);
  }();
  // On failure this drops what the pull fetched; on success what a re-tag orphaned.
  (void)collect_garbage();
  if (!stored) return stored.error().with_context("pull " + name);
  auto rec = to_record(*stored);
  if (!rec) return rec.error().with_context("pull " + name);
  report.image = std::move(*rec);
  return report;
}

Result<ImageRecord> LocalImageStore::find(const std::string& reference) {
  auto parsed = parse_reference(reference);
  if (!parsed) return parsed.error();
  if (!parsed->digest.empty()) {  // pulled by digest: stored under that exact name
    auto s = db_.get(parsed->to_string());
    if (!s) return s.error();
    if (s->has_value()) return to_record(**s);
  }
  if (parsed->digest.empty()) {
    auto s = db_.get(parsed->to_string());
    if (!s) return s.error();
    if (!s->has_value()) return not_found("no such image: " + reference);
    return to_record(**s);
  }
  // "repo@sha256:..." matches any local tag of that repository with that manifest.
  auto all = db_.list();
  if (!all) return all.error();
  ParsedReference repo = *parsed;
  repo.tag.clear();
  repo.digest.clear();
  const std::string prefix = repo.to_string() + ":";
  for (const auto& s : *all) {
    if (s.manifest_digest == parsed->digest && s.name.starts_with(prefix)) return to_record(s);
  }
  return not_found("no such image: " + reference);
}

Result<std::vector<ImageRecord>> LocalImageStore::list() {
  auto all = db_.list();
  if (!all) return all.error();
  std::vector<ImageRecord> out;
  for (const auto& s : *all) {
    auto r = to_record(s);
    if (!r) return r.error();
    out.push_back(std::move(*r));
  }
  return out;
}

Result<ImageParts> LocalImageStore::parts(const ImageRecord& image) {
  auto stored = db_.get(image.name);
  if (!stored) return stored.error();
  if (!stored->has_value() || (*stored)->manifest_digest != image.digest) {
    return not_found("no such image: " + image.name);
  }
  const StoredImage& s = **stored;
  ImageParts parts;
  auto config = blobs_.read_verified(s.config_digest, kMaxJsonBytes);
  if (!config) return config.error().with_context(image.name + ": config");
  parts.config_json = std::move(*config);
  auto diff_ids = parse_diff_ids(parts.config_json);
  if (!diff_ids) return diff_ids.error().with_context(image.name + ": config");
  if (diff_ids->size() != s.layers.size()) {
    return Error(ErrorCode::kProtocol,
                 image.name + ": the config names " + std::to_string(diff_ids->size()) +
                     " layers, the manifest " + std::to_string(s.layers.size()));
  }
  parts.layers = s.layers;
  parts.diff_ids = std::move(*diff_ids);
  return parts;
}

Result<fs::path> LocalImageStore::base_disk(const ImageRecord& image) {
  if (!is_sha256_digest(image.digest)) {
    return invalid_argument(image.name + ": malformed image digest \"" + image.digest + "\"");
  }
  const fs::path disk = disk_path(image.digest);
  struct stat st {};
  if (::stat(disk.c_str(), &st) == 0 && S_ISREG(st.st_mode)) return disk;  // built before

  auto fail = [&](const Error& e) { return e.with_context(image.name + ": base disk"); };
  auto held = lock_.shared();
  if (!held) return fail(held.error());
  auto layers = db_.layers(image.digest);
  if (!layers) return fail(layers.error());
  if (layers->empty()) return fail(not_found("image " + image.digest + " is not in the store"));
  for (const auto& l : *layers) {
    if (auto st2 = blobs_.verify(l.digest, l.size); !st2) return fail(st2.error());
  }

  std::string tmpl = (tmp_dir() / "staging-XXXXXX").string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data()))
    return fail(io_error(std::string("mkdtemp: ") + std::strerror(errno)));
  TreeGuard staging{buf.data()};

  auto flat = LayerFlattener::create(staging.path);
  if (!flat) return fail(flat.error());
  for (size_t i = 0; i < layers->size(); ++i) {
    if (auto s = flat->apply_layer(blobs_.path((*layers)[i].digest)); !s) {
      return fail(s.error().with_context("layer " + std::to_string(i + 1)));
    }
  }
  if (auto s = flat->finish(); !s) return fail(s.error());
  if (flat->stats().skipped_special > 0) {
    log::warn("image " + image.name + ": skipped " + std::to_string(flat->stats().skipped_special) +
              " device nodes, fifos or sockets (not representable without root)");
  }
  auto plan = plan_ext4(flat->staging(), flat->metadata());
  if (!plan) return fail(plan.error());

  auto tmp = make_temp_file(disk.parent_path(), ".tmp-" + digest_hex(image.digest) + "-");
  if (!tmp) return fail(tmp.error());
  FileGuard tmp_disk{tmp->second};
  tmp->first.reset();
  if (auto s = build_ext4(flat->staging(), *plan, tmp_disk.path, tmp_dir()); !s)
    return fail(s.error());

  UniqueFd fd(::open(tmp_disk.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd || ::fchmod(fd.get(), 0444) != 0 || ::fsync(fd.get()) != 0) {
    return fail(io_error("fsync " + tmp_disk.path.string() + ": " + std::strerror(errno)));
  }
  if (::rename(tmp_disk.path.c_str(), disk.c_str()) != 0) {
    return fail(io_error("rename to " + disk.string() + ": " + std::strerror(errno)));
  }
  tmp_disk.path.clear();
  if (auto s = fsync_dir(disk.parent_path()); !s) return fail(s.error());
  return disk;
}

Status LocalImageStore::remove(const std::string& reference) {
  auto parsed = parse_reference(reference);
  if (!parsed) return parsed.error();
  std::string name = parsed->to_string();
  if (!parsed->digest.empty()) {
    auto rec = find(reference);
    if (!rec) return rec.error();
    name = rec->name;
  }
  {
    auto held = lock_.exclusive();
    if (!held) return held.error();
    auto removed = db_.remove(name);
    if (!removed) return removed.error().with_context(name);
    if (!*removed) return not_found("no such image: " + reference);
  }
  return collect_garbage();
}

Status LocalImageStore::collect_garbage() {
  auto held = lock_.exclusive();
  if (!held) return held.error();
  auto blobs = db_.referenced_blobs();
  if (!blobs) return blobs.error();
  auto manifests = db_.referenced_manifests();
  if (!manifests) return manifests.error();
  std::error_code ec;
  for (const auto& de : fs::directory_iterator(root_ / "blobs" / "sha256", ec)) {
    std::string digest = std::string(kSha256Prefix) + de.path().filename().string();
    if (!blobs->count(digest)) ::unlink(de.path().c_str());
  }
  for (const auto& de : fs::directory_iterator(root_ / "disks", ec)) {
    std::string file = de.path().filename().string();
    bool keep = false;
    if (file.size() == 64 + 5 && file.ends_with(".ext4")) {
      keep = manifests->count(std::string(kSha256Prefix) + file.substr(0, 64)) > 0;
    }
    if (!keep) ::unlink(de.path().c_str());  // unreferenced disks and dead .tmp-* builds
  }
  // Temp files of imports/builds that died; "stdin-*" spools belong to running CLI commands.
  for (const auto& de : fs::directory_iterator(tmp_dir(), ec)) {
    std::string file = de.path().filename().string();
    if (file.starts_with("blob-") || file.starts_with("debugfs-")) ::unlink(de.path().c_str());
    if (file.starts_with("staging-")) remove_tree(de.path(), ec);
  }
  return {};
}

}  // namespace

std::string host_architecture() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#else
  return "unknown";
#endif
}

Status parse_platform(const std::string& text, PullOptions& options) {
  auto bad = [&] {
    return invalid_argument("invalid platform \"" + text +
                            "\": expected os/arch[/variant], e.g. linux/arm64");
  };
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t slash = text.find('/', start);
    parts.push_back(
        text.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (parts.size() < 2 || parts.size() > 3) return bad();
  for (const auto& p : parts) {
    if (p.empty() || p.size() > 32) return bad();
    for (char c : p) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return bad();
    }
  }
  options.os = parts[0];
  options.architecture = parts[1];
  options.variant = parts.size() == 3 ? parts[2] : "";
  return {};
}

Result<std::unique_ptr<ImageStore>> ImageStore::open(const fs::path& images_dir) {
  MATCHLOCK_TRY(ensure_private_dir(images_dir, 0700));
  MATCHLOCK_TRY(ensure_private_dir(images_dir / "blobs", 0755));
  MATCHLOCK_TRY(ensure_private_dir(images_dir / "disks", 0755));
  ContentStore blobs(images_dir / "blobs", images_dir / "tmp");
  MATCHLOCK_TRY(blobs.init());
  auto lock = StoreLock::open(images_dir / ".lock");
  if (!lock) return lock.error();
  auto db = ImageDb::open(images_dir / "images.db");
  if (!db) return db.error();
  return std::unique_ptr<ImageStore>(std::make_unique<LocalImageStore>(
      images_dir, std::move(blobs), std::move(*db), std::move(*lock)));
}

}  // namespace matchlock::image
