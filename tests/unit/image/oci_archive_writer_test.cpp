#include "image/oci_archive_writer.h"

#include <catch2/catch.hpp>
#include <map>

#include "image/built_image.h"
#include "image/digest.h"
#include "image/image_store.h"
#include "image/manifest.h"
#include "image_test_util.h"

using namespace matchlock::image;
using namespace matchlock::image::testing;
namespace fs = std::filesystem;

namespace {

struct Source {
  TempDir tmp;
  ContentStore blobs{tmp / "blobs", tmp / "blob-tmp"};
  OciArchiveImage image;
  std::vector<Descriptor> layers;

  explicit Source(bool repeat_layer = false) {
    REQUIRE(blobs.init().ok());
    add_layer("etc/hello", "hello from a built image");
    add_layer("etc/other", "second layer");
    if (repeat_layer) add_layer("etc/hello", "hello from a built image");
    std::vector<std::string> diff_ids;
    for (size_t i = 0; i < plain.size(); ++i) diff_ids.push_back(sha256_digest(plain[i]));
    image.config_json = config_json(diff_ids, R"(,"WorkingDir":"/srv")");
    image.manifest_json = built_image_manifest(image.config_json, layers);
  }
  void add_layer(const std::string& file, const std::string& content) {
    plain.push_back(TarBuilder().dir("etc").file(file, content).finish());
    auto info = blobs.put(TarBuilder(Compression::kGzip).dir("etc").file(file, content).finish());
    REQUIRE(info.ok());
    Descriptor d;
    d.digest = info->digest;
    d.size = info->size;
    layers.push_back(d);
  }
  std::vector<std::string> plain;  // the uncompressed layers, for the diff_ids
};

// name -> content of every regular file in a tar.
std::map<std::string, std::string> tar_files(const fs::path& path) {
  std::map<std::string, std::string> out;
  ArchiveReader a(archive_read_new());
  archive_read_support_format_tar(a.get());
  REQUIRE(archive_read_open_filename(a.get(), path.c_str(), 1 << 16) == ARCHIVE_OK);
  archive_entry* e = nullptr;
  while (archive_read_next_header(a.get(), &e) == ARCHIVE_OK) {
    if (archive_entry_filetype(e) != AE_IFREG) continue;
    std::string data(static_cast<size_t>(archive_entry_size(e)), '\0');
    if (!data.empty()) archive_read_data(a.get(), data.data(), data.size());
    out[archive_entry_pathname(e)] = data;
  }
  return out;
}

size_t entries_in(const fs::path& dir) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    (void)e;
    ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("an OCI archive written from blobs imports through our own image import",
          "[image][oci-archive]") {
  Source src;
  src.image.names = {"app:v1", "registry.example:5000/team/app"};
  const fs::path dest = src.tmp / "out/app.tar";
  fs::create_directories(dest.parent_path());
  REQUIRE(write_oci_archive(dest, src.image, src.blobs).ok());
  CHECK(entries_in(dest.parent_path()) == 1);  // no temp file left beside it

  TempDir other;
  auto store = ImageStore::open(other / "images");
  REQUIRE(store.ok());
  auto rec = (*store)->import_archive("imported", dest);
  REQUIRE(rec.ok());
  CHECK(rec->digest == sha256_digest(src.image.manifest_json));
  CHECK(rec->config.working_dir == "/srv");
  auto disk = (*store)->base_disk(*rec);
  REQUIRE(disk.ok());
  CHECK(debugfs_cmd(*disk, "cat /etc/hello") == "hello from a built image");
  CHECK(debugfs_cmd(*disk, "cat /etc/other") == "second layer");
}

TEST_CASE("the archive holds the layout files, annotated index and every blob once",
          "[image][oci-archive]") {
  Source src(/*repeat_layer=*/true);
  src.image.names = {"app", "app:latest", "registry.example:5000/team/app:v2", "org/tool:1"};
  const fs::path dest = src.tmp / "app.tar";
  REQUIRE(write_oci_archive(dest, src.image, src.blobs).ok());
  auto files = tar_files(dest);
  CHECK(files.at("oci-layout") == R"({"imageLayoutVersion":"1.0.0"})");
  const std::string man_digest = sha256_digest(src.image.manifest_json);
  const std::string desc =
      R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" + man_digest +
      R"(","size":)" + std::to_string(src.image.manifest_json.size());
  auto entry = [&](const std::string& full, const std::string& tag) {
    return desc + R"(,"annotations":{"io.containerd.image.name":")" + full +
           R"(","org.opencontainers.image.ref.name":")" + tag + R"("}})";
  };
  CHECK(
      files.at("index.json") ==
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[)" +
          entry("docker.io/library/app:latest", "latest") + "," +
          entry("registry.example:5000/team/app:v2", "v2") + "," +
          entry("docker.io/org/tool:1", "1") + "]}");
  CHECK(files.at("blobs/sha256/" + hex_of(man_digest)) == src.image.manifest_json);
  CHECK(files.at("blobs/sha256/" + hex_of(sha256_digest(src.image.config_json))) ==
        src.image.config_json);
  for (const auto& l : src.layers) {
    CHECK(sha256_digest(files.at("blobs/sha256/" + hex_of(l.digest))) == l.digest);
  }
  CHECK(files.size() == 2 + 2 + 2);  // layout, index, two distinct layers, config, manifest

  // No names: one entry without annotations, still importable.
  src.image.names.clear();
  REQUIRE(write_oci_archive(dest, src.image, src.blobs).ok());
  CHECK(
      tar_files(dest).at("index.json") ==
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[)" +
          desc + "}]}");
}

TEST_CASE("equal images give byte-identical archives", "[image][oci-archive]") {
  Source src;
  src.image.names = {"app"};
  REQUIRE(write_oci_archive(src.tmp / "a.tar", src.image, src.blobs).ok());
  REQUIRE(write_oci_archive(src.tmp / "b.tar", src.image, src.blobs).ok());
  CHECK(read_file(src.tmp / "a.tar") == read_file(src.tmp / "b.tar"));
}

TEST_CASE("a failed write leaves the destination untouched and no temp file",
          "[image][oci-archive]") {
  Source src;
  src.image.names = {"app"};
  const fs::path dir = src.tmp / "out";
  fs::create_directories(dir);
  const fs::path dest = dir / "app.tar";

  SECTION("a layer blob is missing") {
    REQUIRE(src.blobs.remove(src.layers[1].digest).ok());
    auto st = write_oci_archive(dest, src.image, src.blobs);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().message.find(src.layers[1].digest) != std::string::npos);
    CHECK(st.error().message.find(dest.string()) != std::string::npos);
    CHECK(entries_in(dir) == 0);
  }
  SECTION("a layer blob is corrupt") {
    fs::path p = src.blobs.path(src.layers[0].digest);
    std::string data = read_file(p);
    data[data.size() / 2] ^= 0x55;
    fs::remove(p);
    write_file(p, data);
    CHECK_FALSE(write_oci_archive(dest, src.image, src.blobs).ok());
    CHECK(entries_in(dir) == 0);
  }
  SECTION("an older archive at the destination survives a failure") {
    write_file(dest, "previous");
    src.image.config_json += " ";  // no longer the manifest's config
    CHECK_FALSE(write_oci_archive(dest, src.image, src.blobs).ok());
    CHECK(read_file(dest) == "previous");
    CHECK(entries_in(dir) == 1);
  }
  SECTION("a digest as a name") {
    src.image.names = {"app@sha256:" + std::string(64, 'a')};
    CHECK_FALSE(write_oci_archive(dest, src.image, src.blobs).ok());
    CHECK(entries_in(dir) == 0);
  }
  SECTION("the destination directory does not exist") {
    CHECK_FALSE(write_oci_archive(dir / "missing/app.tar", src.image, src.blobs).ok());
  }
}
