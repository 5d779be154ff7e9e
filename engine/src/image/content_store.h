// Content-addressed blob store: <root>/sha256/<hex>. Blobs are written to a temp file, hashed
// while written, fsynced and renamed into place, so a name always holds exactly its content.
// Concurrent writers of the same blob are safe: each renames an identical file over the name.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/result.h"
#include "core/unique_fd.h"
#include "image/digest.h"

namespace matchlock::image {

struct BlobInfo {
  std::string digest;
  int64_t size = 0;
  bool created = false;  // false if the blob was already present before this write
};

class ContentStore {
 public:
  // `root` = images_dir/blobs; temp files go to `tmp_dir` (same filesystem).
  ContentStore(std::filesystem::path root, std::filesystem::path tmp_dir);

  Status init() const;
  std::filesystem::path path(std::string_view digest) const;
  bool contains(std::string_view digest) const;

  // Streams a blob in. Dropping a Writer without commit() removes its temp file.
  class Writer {
   public:
    Writer(Writer&&) noexcept = default;
    Writer& operator=(Writer&&) noexcept = default;
    ~Writer();
    Status write(const void* data, size_t len);
    // Verifies the digest (and size if >= 0) when given, then publishes the blob.
    Result<BlobInfo> commit(std::string_view expected_digest = {}, int64_t expected_size = -1);

   private:
    friend class ContentStore;
    Writer(const ContentStore* store, UniqueFd fd, std::filesystem::path tmp);
    const ContentStore* store_;
    UniqueFd fd_;
    std::filesystem::path tmp_;
    std::unique_ptr<Sha256> hash_;
    int64_t size_ = 0;
  };

  Result<Writer> begin_write() const;
  Result<BlobInfo> put(std::string_view data, std::string_view expected_digest = {}) const;

  // Re-hashes a stored blob; error if it is missing, the wrong size or the wrong content.
  Status verify(std::string_view digest, int64_t expected_size) const;
  // Reads and verifies a small blob (manifests, configs) of at most `max_bytes`.
  Result<std::string> read_verified(std::string_view digest, size_t max_bytes) const;
  Status remove(std::string_view digest) const;

 private:
  std::filesystem::path root_;
  std::filesystem::path tmp_dir_;
};

// Makes a temp file `<dir>/<prefix>XXXXXX` (0600); returns its fd and path.
Result<std::pair<UniqueFd, std::filesystem::path>> make_temp_file(const std::filesystem::path& dir,
                                                                  const std::string& prefix);
// fsync of a directory so a rename inside it is durable.
Status fsync_dir(const std::filesystem::path& dir);

}  // namespace matchlock::image
