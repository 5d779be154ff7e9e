// images.db: tags -> manifests -> ordered layers. SQLite in WAL mode with a busy timeout and
// versioned migrations recorded in schema_version. One connection per ImageDb (one per thread).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/result.h"
#include "image/manifest.h"

namespace matchlock::image {

struct StoredImage {
  std::string name;  // normalised reference
  std::string manifest_digest;
  std::string config_digest;
  int64_t config_size = 0;
  std::vector<Descriptor> layers;  // in application order
  int64_t size = 0;                // sum of layer blob sizes
  int64_t created_unix = 0;
  std::string source;  // "import" | "pull" | "build"
};

class ImageDb {
 public:
  static Result<ImageDb> open(const std::filesystem::path& file);

  // Tags `image.name` (replacing an older tag of that name) in one transaction.
  Status put(const StoredImage& image);
  // put() for several tags in one transaction: all of them or none.
  Status put_all(const std::vector<StoredImage>& images);
  Result<std::optional<StoredImage>> get(const std::string& name);
  Result<std::vector<StoredImage>> list();
  // The ordered layers of a manifest; empty if no tag references it.
  Result<std::vector<Descriptor>> layers(const std::string& manifest_digest);
  // False if no such tag. Manifests no tag references any more are dropped too.
  Result<bool> remove(const std::string& name);
  // Digests of every manifest, config and layer some tag still references.
  Result<std::set<std::string>> referenced_blobs();
  Result<std::set<std::string>> referenced_manifests();

 private:
  static Result<ImageDb> open_once(const std::filesystem::path& file);
  struct Close {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  explicit ImageDb(std::unique_ptr<sqlite3, Close> db) : db_(std::move(db)) {}
  Status migrate();
  Status exec(const char* sql);
  Result<std::vector<StoredImage>> query_images(const char* where, const std::string* name);

  std::unique_ptr<sqlite3, Close> db_;
};

}  // namespace matchlock::image
