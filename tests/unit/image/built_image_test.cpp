#include "image/built_image.h"

#include <catch2/catch.hpp>

#include "image/content_store.h"
#include "image/digest.h"
#include "image/image_store.h"
#include "image_test_util.h"

using namespace matchlock::image;
using namespace matchlock::image::testing;
namespace fs = std::filesystem;

namespace {

std::unique_ptr<ImageStore> open_store(const fs::path& dir) {
  auto s = ImageStore::open(dir);
  REQUIRE(s.ok());
  return std::move(*s);
}

// A store and its blobs, into which `matchlock build` writes layers before it records the image.
struct BuildStore {
  TempDir tmp;
  std::unique_ptr<ImageStore> store = open_store(tmp / "images");
  const ContentStore& blobs = store->blobs();

  // Stores a gzip layer; returns its descriptor (no media type: the build's own) and diff_id.
  std::pair<Descriptor, std::string> layer(const std::string& file, const std::string& content) {
    std::string plain = TarBuilder().file(file, content).finish();
    std::string gz = TarBuilder(Compression::kGzip).file(file, content).finish();
    auto info = blobs.put(gz);
    REQUIRE(info.ok());
    Descriptor d;
    d.digest = info->digest;
    d.size = info->size;
    return {d, sha256_digest(plain)};
  }
  size_t blob_count() const {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(tmp / "images/blobs/sha256")) {
      (void)e;
      ++n;
    }
    return n;
  }
  matchlock::Result<ImageRecord> import(const std::string& name, const std::string& archive) {
    fs::path p = tmp / "archive.tar";
    write_file(p, archive);
    return store->import_archive(name, p);
  }
};

struct Built {
  std::string config;
  std::string manifest;
  std::vector<Descriptor> layers;
};

Built two_layer_image(BuildStore& s, const std::string& marker = "one") {
  auto [l1, d1] = s.layer("etc/first", marker);
  auto [l2, d2] = s.layer("etc/second", "two");
  Built b;
  b.layers = {l1, l2};
  b.config = config_json({d1, d2}, R"(,"User":"builder")");
  b.manifest = built_image_manifest(b.config, b.layers);
  return b;
}

std::string simple_docker_save() {
  std::string layer = TarBuilder().dir("etc").file("etc/old", "old").finish();
  std::string cfg = config_json({sha256_digest(layer)});
  return TarBuilder()
      .file("layer.tar", layer)
      .file("config.json", cfg)
      .file("manifest.json", R"([{"Config":"config.json","Layers":["layer.tar"]}])")
      .finish();
}

}  // namespace

TEST_CASE("a built image's manifest is OCI with gzip layers and docker types renamed",
          "[image][build]") {
  const std::string cfg = config_json({});
  Descriptor own;
  own.digest = "sha256:" + std::string(64, '1');
  own.size = 10;
  Descriptor docker = own;
  docker.digest = "sha256:" + std::string(64, '2');
  docker.media_type = "application/vnd.docker.image.rootfs.diff.tar.gzip";
  Descriptor zstd = own;
  zstd.digest = "sha256:" + std::string(64, '3');
  zstd.media_type = std::string(media_type::kOciLayerZstd);
  std::string json = built_image_manifest(cfg, {own, docker, zstd});
  CHECK(json.find(R"("mediaType":"application/vnd.oci.image.manifest.v1+json")") !=
        std::string::npos);
  auto m = parse_manifest(json);
  REQUIRE(m.ok());
  CHECK(m->config.media_type == media_type::kOciConfig);
  CHECK(m->config.digest == sha256_digest(cfg));
  CHECK(m->config.size == static_cast<int64_t>(cfg.size()));
  REQUIRE(m->layers.size() == 3);
  CHECK(m->layers[0].media_type == media_type::kOciLayerGzip);
  CHECK(m->layers[1].media_type == media_type::kOciLayerGzip);
  CHECK(m->layers[2].media_type == media_type::kOciLayerZstd);
  CHECK(built_image_manifest(cfg, {own, docker, zstd}) == json);
}

TEST_CASE("check_built_image normalises names and rejects inconsistent input", "[image][build]") {
  Descriptor l;
  l.digest = "sha256:" + std::string(64, '1');
  l.size = 3;
  const std::string cfg = config_json({"sha256:" + std::string(64, 'd')});
  const std::string man = built_image_manifest(cfg, {l});

  auto ok = check_built_image({"app", "app:latest", "Registry.example:5000/team/app:v1"}, man, cfg);
  REQUIRE(ok.ok());
  CHECK(ok->names == std::vector<std::string>{"app:latest", "Registry.example:5000/team/app:v1"});
  CHECK(ok->manifest_digest == sha256_digest(man));

  CHECK_FALSE(check_built_image({}, man, cfg).ok());
  CHECK_FALSE(check_built_image({"Upper"}, man, cfg).ok());
  auto digest_name = check_built_image({"app@sha256:" + std::string(64, 'a')}, man, cfg);
  REQUIRE_FALSE(digest_name.ok());
  CHECK(digest_name.error().message.find("not a digest") != std::string::npos);
  CHECK_FALSE(check_built_image({"app"}, "{}", cfg).ok());
  CHECK_FALSE(check_built_image({"app"}, man, cfg + " ").ok());  // not the config it names
  const std::string two_ids =
      config_json({"sha256:" + std::string(64, 'd'), "sha256:" + std::string(64, 'e')});
  auto mismatch = check_built_image({"app"}, built_image_manifest(two_ids, {l}), two_ids);
  REQUIRE_FALSE(mismatch.ok());
  CHECK(mismatch.error().message.find("2 diff_ids for 1 layers") != std::string::npos);
}

TEST_CASE("add_image records a built image under every name, source build", "[image][build]") {
  BuildStore s;
  Built b = two_layer_image(s);
  auto rec = s.store->add_image({"app", "app:v1", "app:latest"}, b.manifest, b.config);
  REQUIRE(rec.ok());
  CHECK(rec->name == "app:latest");
  CHECK(rec->source == "build");
  CHECK(rec->digest == sha256_digest(b.manifest));
  CHECK(rec->size == b.layers[0].size + b.layers[1].size);
  CHECK(rec->config.user == "builder");
  auto v1 = s.store->find("app:v1");
  REQUIRE(v1.ok());
  CHECK(v1->digest == rec->digest);
  CHECK(v1->source == "build");
  auto all = s.store->list();
  REQUIRE(all.ok());
  CHECK(all->size() == 2);
  CHECK(s.blob_count() == 4);  // two layers, config, manifest

  // The image boots like any other: its base disk builds from the recorded layers.
  auto disk = s.store->base_disk(*rec);
  REQUIRE(disk.ok());
  CHECK(debugfs_cmd(*disk, "cat /etc/second") == "two");
}

TEST_CASE("add_image moves a name that pointed elsewhere; rm collects the built blobs",
          "[image][build]") {
  BuildStore s;
  auto old = s.import("app", simple_docker_save());
  REQUIRE(old.ok());
  const size_t imported_blobs = s.blob_count();
  Built b = two_layer_image(s);
  auto rec = s.store->add_image({"app"}, b.manifest, b.config);
  REQUIRE(rec.ok());
  auto found = s.store->find("app");
  REQUIRE(found.ok());
  CHECK(found->digest == rec->digest);
  CHECK(found->source == "build");
  // No collection in add_image: the old image's blobs stay until the next rm, import or pull.
  CHECK(s.blob_count() == imported_blobs + 4);

  REQUIRE(s.store->remove("app").ok());
  CHECK(s.blob_count() == 0);  // the built image's blobs and the orphaned import's alike
}

TEST_CASE("add_image checks the layers and adds no row when anything is wrong", "[image][build]") {
  BuildStore s;
  auto old = s.import("keep", simple_docker_save());
  REQUIRE(old.ok());

  SECTION("a layer missing from the content store") {
    Built b = two_layer_image(s);
    REQUIRE(s.blobs.remove(b.layers[1].digest).ok());
    auto rec = s.store->add_image({"fresh", "keep"}, b.manifest, b.config);
    REQUIRE_FALSE(rec.ok());
    CHECK(rec.error().code == matchlock::ErrorCode::kNotFound);
    CHECK(rec.error().message.find(b.layers[1].digest) != std::string::npos);
    CHECK(rec.error().message.find("fresh:latest") != std::string::npos);
  }
  SECTION("a layer of another size than the manifest says") {
    Built b = two_layer_image(s);
    b.layers[0].size += 1;
    b.manifest = built_image_manifest(b.config, b.layers);
    auto rec = s.store->add_image({"fresh", "keep"}, b.manifest, b.config);
    REQUIRE_FALSE(rec.ok());
    CHECK(rec.error().message.find("bytes") != std::string::npos);
  }
  SECTION("a bad name among good ones") {
    Built b = two_layer_image(s);
    CHECK_FALSE(s.store->add_image({"fresh", "keep", "BAD NAME"}, b.manifest, b.config).ok());
  }
  CHECK_FALSE(s.store->find("fresh").ok());
  auto keep = s.store->find("keep");
  REQUIRE(keep.ok());
  CHECK(keep->digest == old->digest);
  CHECK(keep->source == "import");
}

TEST_CASE("parts gives a local image's config blob and layers", "[image][build]") {
  BuildStore s;
  Built b = two_layer_image(s);
  auto rec = s.store->add_image({"app"}, b.manifest, b.config);
  REQUIRE(rec.ok());
  auto p = s.store->parts(*rec);
  REQUIRE(p.ok());
  CHECK(p->config_json == b.config);
  REQUIRE(p->layers.size() == 2);
  REQUIRE(p->diff_ids.size() == 2);
  CHECK(p->layers[1].digest == b.layers[1].digest);
  CHECK(p->layers[1].media_type == media_type::kOciLayerGzip);

  auto imported = s.import("base", simple_docker_save());
  REQUIRE(imported.ok());
  auto base = s.store->parts(*imported);
  REQUIRE(base.ok());
  CHECK(base->layers.size() == 1);
  // A record whose manifest is not the stored one is kNotFound, naming the image.
  ImageRecord ghost = *imported;
  ghost.digest = "sha256:" + std::string(64, '0');
  auto missing = s.store->parts(ghost);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.find("base:latest") != std::string::npos);
}

TEST_CASE("adding the same built image again is idempotent", "[image][build]") {
  BuildStore s;
  Built b = two_layer_image(s);
  auto first = s.store->add_image({"app"}, b.manifest, b.config);
  REQUIRE(first.ok());
  auto second = s.store->add_image({"app", "other"}, b.manifest, b.config);
  REQUIRE(second.ok());
  CHECK(second->digest == first->digest);
  CHECK(s.blob_count() == 4);
  REQUIRE(s.store->remove("app").ok());
  CHECK(s.blob_count() == 4);  // still used by "other"
  REQUIRE(s.store->remove("other").ok());
  CHECK(s.blob_count() == 0);
}
