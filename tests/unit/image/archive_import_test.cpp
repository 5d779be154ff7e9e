#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "image/image_store.h"
#include "image_test_util.h"

using namespace matchlock::image;
using namespace matchlock::image::testing;
namespace fs = std::filesystem;

namespace {

struct Blob {
  std::string data;
  std::string digest;
  explicit Blob(std::string d) : data(std::move(d)), digest(sha256_digest(data)) {}
  std::string descriptor(const std::string& media_type, const std::string& extra = "") const {
    return R"({"mediaType":")" + media_type + R"(","digest":")" + digest + R"(","size":)" +
           std::to_string(data.size()) + extra + "}";
  }
};

std::string layer_a() {
  return TarBuilder().dir("etc").file("etc/hello", "hello from a").finish();
}
std::string layer_b() {
  return TarBuilder().file("etc/second", "from b").finish();
}

std::string manifest_for(const Blob& config, const std::vector<const Blob*>& layers,
                         const std::string& layer_type) {
  std::string ls;
  for (const Blob* l : layers) ls += (ls.empty() ? "" : ",") + l->descriptor(layer_type);
  return R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":)" +
         config.descriptor("application/vnd.oci.image.config.v1+json") + R"(,"layers":[)" + ls +
         "]}";
}

// Classic `docker save` (skopeo shape): <diffid>.tar files, <id>/layer.tar symlink entries,
// a gzip'd second layer, manifest.json written last.
std::string classic_docker_save(const std::string& repo_tag = "docker.io/library/busybox:latest") {
  Blob l1(layer_a());
  Blob l2(TarBuilder(Compression::kGzip).file("etc/second", "from b").finish());
  Blob plain2(layer_b());
  Blob cfg(config_json({l1.digest, plain2.digest}));
  TarBuilder t;
  t.file(hex_of(l1.digest) + ".tar", l1.data)
      .dir("aaaa")
      .symlink("aaaa/layer.tar", "../" + hex_of(l1.digest) + ".tar")
      .file("aaaa/VERSION", "1.0")
      .file("aaaa/json", "{}")
      .dir("bbbb")
      .file("bbbb/layer.tar", l2.data)
      .file(hex_of(cfg.digest) + ".json", cfg.data)
      .file("repositories", "{}")
      .file("manifest.json", R"([{"Config":")" + hex_of(cfg.digest) + R"(.json","RepoTags":[")" +
                                 repo_tag + R"("],"Layers":["aaaa/layer.tar","bbbb/layer.tar"]}])");
  return t.finish();
}

struct OciOptions {
  bool via_index = false;             // index.json -> image index -> (arm64, amd64) manifests
  bool with_docker_manifest = false;  // Docker 25+: manifest.json beside the layout
  bool corrupt_layer = false;
  Compression layer_compression = Compression::kGzip;
};

std::string oci_archive(const OciOptions& o) {
  Blob l1(TarBuilder(o.layer_compression).dir("etc").file("etc/hello", "hello from oci").finish());
  Blob cfg(
      config_json({sha256_digest(layer_a())}, R"(,"User":"agent","WorkingDir":"/home/agent")"));
  std::string layer_type = o.layer_compression == Compression::kGzip
                               ? "application/vnd.oci.image.layer.v1.tar+gzip"
                               : "application/vnd.oci.image.layer.v1.tar+zstd";
  Blob man(manifest_for(cfg, {&l1}, layer_type));
  TarBuilder t;
  t.file("oci-layout", R"({"imageLayoutVersion":"1.0.0"})").dir("blobs").dir("blobs/sha256");
  std::string top;
  if (o.via_index) {
    std::string arm = "sha256:" + std::string(64, 'e');  // not in the archive: must not be read
    Blob idx(
        R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[)"
        R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
        arm + R"(","size":10,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},)" +
        man.descriptor("application/vnd.oci.image.manifest.v1+json",
                       R"(,"platform":{"os":"linux","architecture":"amd64"})") +
        "]}");
    t.file("blobs/sha256/" + hex_of(idx.digest), idx.data);
    top = idx.descriptor("application/vnd.oci.image.index.v1+json");
  } else {
    top = man.descriptor(
        "application/vnd.oci.image.manifest.v1+json",
        R"(,"annotations":{"io.containerd.image.name":"docker.io/library/busybox:latest"})");
  }
  std::string layer_data = l1.data;
  if (o.corrupt_layer) layer_data[layer_data.size() / 2] ^= 0x55;
  t.file("blobs/sha256/" + hex_of(l1.digest), layer_data)
      .file("blobs/sha256/" + hex_of(cfg.digest), cfg.data)
      .file("blobs/sha256/" + hex_of(man.digest), man.data);
  if (o.with_docker_manifest) {
    t.file("manifest.json", R"([{"Config":"blobs/sha256/)" + hex_of(cfg.digest) +
                                R"(","RepoTags":["busybox:latest"],"Layers":["blobs/sha256/)" +
                                hex_of(l1.digest) + R"("]}])");
  }
  t.file("index.json", R"({"schemaVersion":2,"manifests":[)" + top + "]}");
  return t.finish();
}

struct Store {
  TempDir tmp;
  std::unique_ptr<ImageStore> store;
  Store() {
    auto s = ImageStore::open(tmp / "images");
    REQUIRE(s.ok());
    store = std::move(*s);
  }
  matchlock::Result<ImageRecord> import(const std::string& name, const std::string& archive) {
    fs::path p = tmp / "archive.tar";
    write_file(p, archive);
    return store->import_archive(name, p);
  }
  size_t count(const std::string& sub) const {
    size_t n = 0;
    for (auto& e : fs::directory_iterator(tmp / "images" / sub)) {
      (void)e;
      ++n;
    }
    return n;
  }
};

}  // namespace

TEST_CASE("a classic docker-save archive with symlinked layer.tar imports", "[image][import]") {
  Store s;
  auto rec = s.import("busybox", classic_docker_save());
  REQUIRE(rec.ok());
  CHECK(rec->name == "busybox:latest");
  CHECK(rec->source == "import");
  CHECK(rec->config.cmd == std::vector<std::string>{"sh"});
  CHECK(rec->config.env == std::vector<std::string>{"PATH=/bin"});
  auto found = s.store->find("busybox");
  REQUIRE(found.ok());
  CHECK(found->digest == rec->digest);
  CHECK(s.count("blobs/sha256") == 4);  // 2 layers + config + synthesised manifest
  CHECK(s.count("tmp") == 0);
}

TEST_CASE("re-importing the same docker-save archive gives the same digest", "[image][import]") {
  Store s;
  auto a = s.import("one", classic_docker_save());
  auto b = s.import("two:v1", classic_docker_save());
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->digest == b->digest);
  Store other;
  auto c = other.import("three", classic_docker_save());
  REQUIRE(c.ok());
  CHECK(c->digest == a->digest);
}

TEST_CASE("a Docker 25+ save archive (layout plus manifest.json) imports", "[image][import]") {
  Store s;
  auto rec = s.import("busybox:25", oci_archive({.with_docker_manifest = true}));
  REQUIRE(rec.ok());
  CHECK(rec->config.user == "agent");
  CHECK(rec->config.working_dir == "/home/agent");
}

TEST_CASE("an OCI layout archive with an image index picks linux/amd64", "[image][import]") {
  Store s;
  auto rec = s.import("multi", oci_archive({.via_index = true}));
  REQUIRE(rec.ok());
  CHECK(s.store->find("multi:latest").ok());
  // The manifest digest is the real one from the archive, and it can be looked up by digest.
  CHECK(s.store->find("multi@" + rec->digest).ok());
}

TEST_CASE("zstd layers import when libarchive can read them", "[image][import]") {
  Store s;
  auto rec = s.import("zstd", oci_archive({.layer_compression = Compression::kZstd}));
  REQUIRE(rec.ok());
}

TEST_CASE("a corrupt blob fails the import with a clear error and leaves nothing behind",
          "[image][import]") {
  Store s;
  auto rec = s.import("broken", oci_archive({.corrupt_layer = true}));
  REQUIRE_FALSE(rec.ok());
  CHECK(rec.error().message.find("broken:latest") != std::string::npos);
  CHECK(rec.error().message.find("digest mismatch") != std::string::npos);
  CHECK(s.count("blobs/sha256") == 0);
  CHECK(s.count("tmp") == 0);
  CHECK_FALSE(s.store->find("broken").ok());
  auto all = s.store->list();
  REQUIRE(all.ok());
  CHECK(all->empty());
}

TEST_CASE("a docker-save layer that does not match its diff_id is rejected", "[image][import]") {
  Blob l1(layer_a());
  Blob cfg(config_json({"sha256:" + std::string(64, '0')}));
  std::string archive =
      TarBuilder()
          .file("x/layer.tar", l1.data)
          .file("c.json", cfg.data)
          .file("manifest.json", R"([{"Config":"c.json","Layers":["x/layer.tar"]}])")
          .finish();
  Store s;
  auto rec = s.import("bad", archive);
  REQUIRE_FALSE(rec.ok());
  CHECK(rec.error().message.find("diff_id") != std::string::npos);
  CHECK(s.count("blobs/sha256") == 0);
}

TEST_CASE("hostile or garbage archives are errors, not crashes", "[image][import]") {
  Store s;
  CHECK_FALSE(s.import("g", std::string(4096, 'z')).ok());
  CHECK_FALSE(s.import("g", "").ok());
  CHECK_FALSE(s.import("g", TarBuilder().file("manifest.json", "[{]").finish()).ok());
  CHECK_FALSE(
      s.import("g", TarBuilder()
                        .file("manifest.json", R"([{"Config":"../../etc/passwd","Layers":[]}])")
                        .finish())
          .ok());
  CHECK_FALSE(s.import("g", TarBuilder()
                                .symlink("l", "/etc/passwd")
                                .file("manifest.json", R"([{"Config":"l","Layers":[]}])")
                                .finish())
                  .ok());
  CHECK_FALSE(s.import("g", TarBuilder()
                                .symlink("a", "b")
                                .symlink("b", "a")
                                .file("manifest.json", R"([{"Config":"a","Layers":[]}])")
                                .finish())
                  .ok());
  CHECK_FALSE(s.import("Bad Name", classic_docker_save()).ok());
  CHECK(s.count("blobs/sha256") == 0);
  auto all = s.store->list();
  REQUIRE(all.ok());
  CHECK(all->empty());
}

TEST_CASE("removing a tag deletes only blobs no other image uses", "[image][import]") {
  Store s;
  REQUIRE(s.import("a", classic_docker_save()).ok());
  REQUIRE(s.import("b", classic_docker_save()).ok());
  REQUIRE(s.import("c", oci_archive({})).ok());
  size_t before = s.count("blobs/sha256");
  REQUIRE(s.store->remove("a").ok());
  CHECK(s.count("blobs/sha256") == before);
  REQUIRE(s.store->remove("b:latest").ok());
  CHECK(s.count("blobs/sha256") == 3);  // c's layer, config, manifest
  auto missing = s.store->remove("a");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == matchlock::ErrorCode::kNotFound);
  CHECK(missing.error().message == "no such image: a");
  auto all = s.store->list();
  REQUIRE(all.ok());
  REQUIRE(all->size() == 1);
  CHECK((*all)[0].name == "c:latest");
}

TEST_CASE("re-tagging a name drops the blobs of the image it pointed to", "[image][import]") {
  Store s;
  REQUIRE(s.import("x", classic_docker_save()).ok());
  REQUIRE(s.import("x", oci_archive({})).ok());
  CHECK(s.count("blobs/sha256") == 3);
}

TEST_CASE("concurrent imports of the same archive into one store are safe", "[image][import]") {
  TempDir tmp;
  write_file(tmp / "a.tar", classic_docker_save());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto store = ImageStore::open(tmp / "images");  // one store per thread
      if (!store) return;
      if ((*store)->import_archive("same:" + std::to_string(i % 2), tmp / "a.tar").ok()) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 4);
  auto store = ImageStore::open(tmp / "images");
  REQUIRE(store.ok());
  auto all = (*store)->list();
  REQUIRE(all.ok());
  CHECK(all->size() == 2);
  size_t blobs = 0;
  for (auto& e : fs::directory_iterator(tmp / "images" / "blobs" / "sha256")) {
    (void)e;
    ++blobs;
  }
  CHECK(blobs == 4);
  CHECK(fs::is_empty(tmp / "images" / "tmp"));
}
