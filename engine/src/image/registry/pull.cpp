#include "image/registry/pull.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "core/log.h"
#include "core/unique_fd.h"
#include "image/digest.h"
#include "image/image_config.h"
#include "image/registry/registry_client.h"

namespace matchlock::image::registry {
namespace {

// Serialises concurrent downloads of one blob across processes (flock on a lock file next to
// the temp files). Only an optimisation: the temp+rename publish is safe without it.
class BlobLock {
 public:
  static BlobLock take(const std::filesystem::path& tmp_dir, const std::string& digest) {
    BlobLock l;
    l.path_ = tmp_dir / ("lock-" + digest_hex(digest));
    l.fd_ = UniqueFd(::open(l.path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (l.fd_) {
      while (::flock(l.fd_.get(), LOCK_EX) != 0 && errno == EINTR) {
      }
    }
    return l;
  }
  BlobLock(BlobLock&&) = default;
  ~BlobLock() {
    if (fd_) ::unlink(path_.c_str());
  }

 private:
  BlobLock() = default;
  std::filesystem::path path_;
  UniqueFd fd_;
};

bool present_with_size(const ContentStore& blobs, const Descriptor& d) {
  struct stat st {};
  return blobs.contains(d.digest) && ::stat(blobs.path(d.digest).c_str(), &st) == 0 &&
         st.st_size == d.size;
}

Status download_blob(RegistryClient& client, const ContentStore& blobs, const Descriptor& d,
                     size_t index, size_t count, const PullOptions& options, int64_t& downloaded) {
  std::optional<ContentStore::Writer> writer;
  int64_t got = 0;
  auto report = [&](PullProgress::Event e) {
    if (!options.progress) return;
    PullProgress p;
    p.event = e;
    p.digest = d.digest;
    p.index = index;
    p.count = count;
    p.done = got;
    p.total = d.size;
    options.progress(p);
  };
  auto restart = [&]() -> Status {
    writer.reset();  // drops (unlinks) the temp file of a failed attempt
    auto w = blobs.begin_write();
    if (!w) return w.error();
    writer.emplace(std::move(*w));
    got = 0;
    return {};
  };
  auto sink = [&](const char* data, size_t n) -> Status {
    // Never write more than the descriptor promised (a hostile or broken server).
    if (got + static_cast<int64_t>(n) > d.size) {
      return invalid_argument("blob " + d.digest + ": server sent more than the expected " +
                              std::to_string(d.size) + " bytes");
    }
    MATCHLOCK_TRY(writer->write(data, n));
    got += static_cast<int64_t>(n);
    downloaded += static_cast<int64_t>(n);
    report(PullProgress::Event::kAdvance);
    return {};
  };
  report(PullProgress::Event::kStart);
  MATCHLOCK_TRY(client.fetch_blob(d.digest, restart, sink));
  if (!writer) return io_error("blob " + d.digest + ": no response body");
  if (got != d.size) {
    return io_error("blob " + d.digest + ": truncated download (" + std::to_string(got) + " of " +
                    std::to_string(d.size) + " bytes)");
  }
  auto info = writer->commit(d.digest, d.size);
  if (!info) return info.error();
  report(PullProgress::Event::kDone);
  return {};
}

}  // namespace

Result<Descriptor> choose_platform(const std::vector<Descriptor>& entries,
                                   const PullOptions& options) {
  std::vector<Descriptor> fit;
  for (const auto& e : entries) {
    if (!options.variant.empty() && !e.variant.empty() && e.variant != options.variant) continue;
    fit.push_back(e);
  }
  auto d = select_platform(fit, options.os, options.architecture);
  if (!d) {
    std::string want = options.os + "/" + options.architecture;
    if (!options.variant.empty()) want += "/" + options.variant;
    return not_found("no image for platform " + want + " in the index");
  }
  return d;
}

Result<PulledImage> pull_to_store(const ParsedReference& ref, const ContentStore& blobs,
                                  const std::filesystem::path& tmp_dir,
                                  const PullOptions& options) {
  const RegistryRef rref = resolve_registry_ref(ref, insecure_registries_from_env());
  auto creds = find_credentials(rref.registry);
  if (!creds) return creds.error();
  auto client = RegistryClient::create(rref, *creds);
  if (!client) return client.error();

  auto top = client->fetch_manifest(rref.reference);
  if (!top) return top.error();
  FetchedManifest fetched = std::move(*top);
  if (fetched.kind == ManifestKind::kIndex) {
    auto entries = parse_index(fetched.body);
    if (!entries) return entries.error().with_context("index");
    auto chosen = choose_platform(*entries, options);
    if (!chosen) return chosen.error();
    if (chosen->size > static_cast<int64_t>(kMaxManifestBytes)) {
      return invalid_argument("manifest larger than 4 MiB");
    }
    auto inner = client->fetch_manifest(chosen->digest);
    if (!inner) return inner.error();
    if (inner->kind != ManifestKind::kManifest) return invalid_argument("nested image index");
    fetched = std::move(*inner);
  }
  auto manifest = parse_manifest(fetched.body);
  if (!manifest) return manifest.error().with_context("manifest");
  if (manifest->config.size > static_cast<int64_t>(kMaxJsonBytes)) {
    return invalid_argument("image config larger than 4 MiB");
  }

  PulledImage out;
  out.manifest_digest = fetched.digest;
  out.config = manifest->config;
  out.layers = manifest->layers;
  if (options.progress) {
    PullProgress p;
    p.event = PullProgress::Event::kResolved;
    p.digest = fetched.digest;
    p.count = manifest->layers.size() + 1;
    options.progress(p);
  }

  std::vector<Descriptor> wanted = {manifest->config};
  wanted.insert(wanted.end(), manifest->layers.begin(), manifest->layers.end());
  for (size_t i = 0; i < wanted.size(); ++i) {
    const Descriptor& d = wanted[i];
    auto exists = [&] {
      if (!options.progress) return;
      PullProgress p;
      p.event = PullProgress::Event::kExists;
      p.digest = d.digest;
      p.index = i;
      p.count = wanted.size();
      p.done = p.total = d.size;
      options.progress(p);
    };
    if (present_with_size(blobs, d)) {
      ++out.blobs_present;
      exists();
      continue;
    }
    BlobLock lock = BlobLock::take(tmp_dir, d.digest);
    if (present_with_size(blobs, d)) {  // another pull finished it while we waited
      ++out.blobs_present;
      exists();
      continue;
    }
    MATCHLOCK_TRY(
        download_blob(*client, blobs, d, i, wanted.size(), options, out.bytes_downloaded));
    ++out.blobs_downloaded;
    log::debug("pulled blob " + d.digest + " (" + std::to_string(d.size) + " bytes)");
  }
  // The manifest goes in last: its presence never implies its blobs are missing.
  if (auto put = blobs.put(fetched.body, fetched.digest); !put) return put.error();
  auto cfg = blobs.read_verified(manifest->config.digest, kMaxJsonBytes);
  if (!cfg) return cfg.error();
  out.config_json = std::move(*cfg);
  return out;
}

}  // namespace matchlock::image::registry
