// The local image store: imported (and later pulled) images, their configs, and the read-only
// base disks that guests boot from. Blocking API: callers run it off the event loop (the libuv
// thread pool) or from a short-lived CLI command. One ImageStore per thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "image/content_store.h"
#include "image/manifest.h"

namespace matchlock::image {

// The parts of an OCI image config the sandbox needs (config.config in the OCI spec).
struct ImageConfig {
  std::string user;
  std::string working_dir;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;  // "KEY=VALUE", in image order
};

// What a build needs of a stored image to stack layers on it: its config blob as stored, and
// its layers (descriptors in application order, with their uncompressed diff_ids).
struct ImageParts {
  std::string config_json;
  std::vector<Descriptor> layers;
  std::vector<std::string> diff_ids;  // rootfs.diff_ids, one per layer
};

struct ImageRecord {
  std::string name;    // normalised reference, e.g. "matchlock/busybox:latest"
  std::string digest;  // manifest digest, "sha256:<hex>"
  std::string source;  // "import", "pull" or "build"
  int64_t size = 0;    // sum of compressed layer sizes, bytes
  int64_t created_unix = 0;
  ImageConfig config;
};

// "amd64", "arm64", ... in OCI terms, for the machine matchlock was built for.
std::string host_architecture();

// Progress of a registry pull, per blob (config and layers), for the CLI's bars.
struct PullProgress {
  enum class Event { kResolved, kExists, kStart, kAdvance, kDone };
  Event event = Event::kResolved;
  std::string digest;  // blob digest; the manifest digest for kResolved
  size_t index = 0;    // blob number, 0-based; `count` blobs in all
  size_t count = 0;
  int64_t done = 0;  // bytes so far
  int64_t total = 0;
};

struct PullOptions {
  std::string os = "linux";
  std::string architecture = host_architecture();
  std::string variant;                                // e.g. "v8"; empty matches any
  std::function<void(const PullProgress&)> progress;  // called on the pulling thread
};

struct PullReport {
  ImageRecord image;
  int64_t bytes_downloaded = 0;  // blob bytes transferred (manifests not counted)
  int blobs_downloaded = 0;
  int blobs_present = 0;  // already in the content store: not transferred
};

class ImageStore {
 public:
  virtual ~ImageStore() = default;

  // Opens (creating if needed) the store under `images_dir` ($MATCHLOCK_HOME/images).
  static Result<std::unique_ptr<ImageStore>> open(const std::filesystem::path& images_dir);

  // Imports a `docker save` archive (classic or Docker 25+) or an OCI archive and tags it `name`.
  virtual Result<ImageRecord> import_archive(const std::string& name,
                                             const std::filesystem::path& archive) = 0;
  // Looks up a local image by reference (normalised like docker). kNotFound if absent.
  virtual Result<ImageRecord> find(const std::string& reference) = 0;
  // The read-only ext4 base disk for this image, built once per image digest and reused.
  virtual Result<std::filesystem::path> base_disk(const ImageRecord& image) = 0;
  virtual Result<std::vector<ImageRecord>> list() = 0;
  // The image's config blob and layers (checked against their digests); kNotFound if untagged.
  virtual Result<ImageParts> parts(const ImageRecord& image) = 0;
  // Where the content store keeps a blob (which may not exist).
  virtual std::filesystem::path blob_path(std::string_view digest) const = 0;
  // Pulls from the image's registry (docker.io/library/ defaults; plain HTTP only for
  // loopback and MATCHLOCK_INSECURE_REGISTRIES) into the store, tagging it as `reference` is
  // normalised. Blobs already present are not transferred. Errors read "pull REF: cause" and
  // leave no blob, disk or row of this pull behind.
  virtual Result<PullReport> pull(const std::string& reference, const PullOptions& options) = 0;
  // Removes the tag; blobs and base disks no other image uses are deleted too.
  virtual Status remove(const std::string& reference) = 0;
  // Records an image a build assembled (built_image.h makes its manifest) under every name in
  // `names` (normalised; a name that pointed elsewhere is moved, as `docker tag` does). The layer
  // blobs must already be in the content store with the manifest's sizes; the config and
  // manifest blobs are stored here. All names or none: on error no row was added or changed.
  // Returns the record of the first name. Runs no garbage collection, so blobs that a moved name
  // orphaned (and the build's other blobs) stay until the next import, pull or rm.
  virtual Result<ImageRecord> add_image(const std::vector<std::string>& names,
                                        const std::string& manifest_json,
                                        const std::string& config_json) = 0;
  // The store's blobs, for a build writing layers before add_image records them. Until then
  // nothing references those blobs, so an import, pull or rm collecting garbage meanwhile may
  // delete them (add_image then fails naming the missing layer).
  virtual const ContentStore& blobs() const = 0;
};

// Docker-style normalisation: "busybox" -> "busybox:latest"; keeps "host:port/repo:tag" and
// "@sha256:..." digests. Error on an empty or malformed reference.
Result<std::string> normalize_reference(const std::string& reference);

// "os/arch[/variant]" (e.g. linux/arm64/v8) into options; error on anything else.
Status parse_platform(const std::string& text, PullOptions& options);

}  // namespace matchlock::image
