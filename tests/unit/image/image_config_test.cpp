#include <catch2/catch.hpp>

#include "image/image_config.h"
#include "image/manifest.h"

using namespace matchlock::image;

TEST_CASE("image config fields are read from config.config", "[image][config]") {
  auto cfg = parse_image_config(R"({"config":{"User":"agent","WorkingDir":"/home/agent",
      "Entrypoint":["/bin/sh","-c"],"Cmd":["id; pwd"],"Env":["PATH=/bin","HOME=/home/agent"]}})");
  REQUIRE(cfg.ok());
  CHECK(cfg->user == "agent");
  CHECK(cfg->working_dir == "/home/agent");
  CHECK(cfg->entrypoint == std::vector<std::string>{"/bin/sh", "-c"});
  CHECK(cfg->cmd == std::vector<std::string>{"id; pwd"});
  CHECK(cfg->env == std::vector<std::string>{"PATH=/bin", "HOME=/home/agent"});
}

TEST_CASE("null and missing config fields stay empty", "[image][config]") {
  auto a =
      parse_image_config(R"({"config":{"User":null,"Entrypoint":null,"Cmd":null,"Env":null}})");
  REQUIRE(a.ok());
  CHECK(a->user.empty());
  CHECK(a->entrypoint.empty());
  CHECK(a->env.empty());
  auto b = parse_image_config(R"({"architecture":"amd64"})");
  REQUIRE(b.ok());
  auto c = parse_image_config(R"({"config":null})");
  REQUIRE(c.ok());
}

TEST_CASE("garbage and wrongly typed configs are errors, not crashes", "[image][config]") {
  CHECK_FALSE(parse_image_config("").ok());
  CHECK_FALSE(parse_image_config("[1,2]").ok());
  CHECK_FALSE(parse_image_config("{\"config\":").ok());
  CHECK_FALSE(parse_image_config(R"({"config":{"Cmd":"sh"}})").ok());
  CHECK_FALSE(parse_image_config(R"({"config":{"Env":[1]}})").ok());
  CHECK_FALSE(parse_image_config(std::string(5 << 20, ' ')).ok());
}

TEST_CASE("the synthesised manifest is canonical and parses back", "[image][manifest]") {
  Descriptor cfg;
  cfg.media_type = media_type::kOciConfig;
  cfg.digest = "sha256:" + std::string(64, '1');
  cfg.size = 10;
  Descriptor l;
  l.media_type = media_type::kOciLayerTar;
  l.digest = "sha256:" + std::string(64, '2');
  l.size = 20;
  std::string a = build_oci_manifest(cfg, {l});
  CHECK(a == build_oci_manifest(cfg, {l}));
  auto m = parse_manifest(a);
  REQUIRE(m.ok());
  CHECK(m->config.digest == cfg.digest);
  REQUIRE(m->layers.size() == 1);
  CHECK(m->layers[0].size == 20);
}

TEST_CASE("platform selection picks linux/amd64 and skips attestations", "[image][manifest]") {
  auto idx = parse_index(
      R"({"manifests":[
    {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:)" +
      std::string(64, 'a') +
      R"(","size":1,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
    {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:)" +
      std::string(64, 'b') + R"(","size":1,"platform":{"os":"unknown","architecture":"unknown"}},
    {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:)" +
      std::string(64, 'c') + R"(","size":1,"platform":{"os":"linux","architecture":"amd64"}}]})");
  REQUIRE(idx.ok());
  auto d = select_platform(*idx);
  REQUIRE(d.ok());
  CHECK(d->digest == "sha256:" + std::string(64, 'c'));
  idx->pop_back();
  CHECK_FALSE(select_platform(*idx).ok());
}

// Found by fuzz/image_manifest_fuzzer: diff_ids were taken as any strings.
TEST_CASE("diff_ids must be sha256 digests", "[image][config]") {
  const std::string good = "sha256:" + std::string(64, 'b');
  auto ok = parse_diff_ids(R"({"rootfs":{"type":"layers","diff_ids":[")" + good + R"("]}})");
  REQUIRE(ok.ok());
  CHECK(*ok == std::vector<std::string>{good});
  for (const std::string& bad : {"sha2\u00ff56:" + std::string(64, 'c'), std::string("sha256:abc"),
                                 "sha256:" + std::string(64, 'B'), std::string("../../etc")}) {
    auto r = parse_diff_ids(R"({"rootfs":{"diff_ids":[")" + good + R"(",")" + bad + R"("]}})");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("diff_ids") != std::string::npos);
  }
}
