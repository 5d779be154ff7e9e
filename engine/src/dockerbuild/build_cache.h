// The build cache ($MATCHLOCK_HOME/cache/build): which layer a build step produced, keyed by
// everything that decides that layer (the parent step's key, the expanded instruction and a
// digest of the step's inputs). One small JSON file per key, sharded by the key's first two hex
// digits. Entries only point at layer blobs; the blobs live in the image content store, and an
// entry whose blob has been collected there is a miss.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "image/content_store.h"

namespace matchlock::dockerbuild {

struct CacheEntry {
  // The step changed nothing: no layer (the history entry is an empty_layer one).
  bool no_layer = false;
  std::string digest;   // compressed layer blob, "sha256:<hex>"
  std::string diff_id;  // sha256 of the uncompressed tar
  int64_t size = 0;     // compressed size, bytes
  // When the step first ran: the image's history and `created` reuse it on a hit, so an
  // unchanged rebuild is the same image, digest and all.
  int64_t created_unix = 0;
};

class BuildCache {
 public:
  // Creates the directory (0700) if needed.
  static Result<BuildCache> open(const std::filesystem::path& dir);

  // sha256 hex over the three parts, each length-prefixed so no two inputs collide by
  // shifting text from one part into the next. `parent_key` is the previous step's key (or the
  // base image's manifest digest for a stage's first step).
  static std::string key(std::string_view parent_key, std::string_view cache_text,
                         std::string_view input_digest);

  // The entry for `key` if there is one, it is well formed, and (unless it is a no-layer entry)
  // its blob is in `blobs` with the recorded size. Anything else is a miss, never an error.
  std::optional<CacheEntry> lookup(std::string_view key, const image::ContentStore& blobs) const;

  // Records `entry` for `key` (replacing any older entry) through a temp file and a rename, so a
  // reader sees the old entry, the new one or none.
  Status store(std::string_view key, const CacheEntry& entry) const;

 private:
  explicit BuildCache(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::filesystem::path entry_path(std::string_view key) const;
  std::filesystem::path dir_;
};

}  // namespace matchlock::dockerbuild
