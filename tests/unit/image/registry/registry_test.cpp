// Registry client pieces that need no network: challenge parsing, reference resolution,
// manifest dispatch, redirect auth policy, docker config parsing, platform choice.
#include <catch2/catch.hpp>

#include "core/base64.h"
#include "image/manifest.h"
#include "image/reference.h"
#include "image/registry/docker_config.h"
#include "image/registry/pull.h"
#include "image/registry/registry_client.h"
#include "image/registry/registry_reference.h"
#include "image/registry/url.h"
#include "image/registry/www_authenticate.h"

using namespace matchlock;
using namespace matchlock::image;
using namespace matchlock::image::registry;

TEST_CASE("WWW-Authenticate: bearer with quoted params") {
  auto c = parse_www_authenticate(
      R"(Bearer realm="http://127.0.0.1:5003/token",service="svc",scope="repository:private/busybox:pull",error="insufficient_scope")");
  REQUIRE(c.ok());
  REQUIRE(c->size() == 1);
  CHECK((*c)[0].scheme == "bearer");
  CHECK((*c)[0].param("realm") == "http://127.0.0.1:5003/token");
  CHECK((*c)[0].param("scope") == "repository:private/busybox:pull");
  CHECK((*c)[0].param("error") == "insufficient_scope");
}

TEST_CASE("WWW-Authenticate: basic, escapes, several challenges, case") {
  auto c =
      parse_www_authenticate(R"(Basic realm="a \"q\" b", BEARER Realm="https://x/t" ,service=s)");
  REQUIRE(c.ok());
  REQUIRE(c->size() == 2);
  CHECK((*c)[0].scheme == "basic");
  CHECK((*c)[0].param("realm") == "a \"q\" b");
  CHECK((*c)[1].scheme == "bearer");
  CHECK((*c)[1].param("realm") == "https://x/t");
  CHECK((*c)[1].param("service") == "s");
}

TEST_CASE("WWW-Authenticate: malformed input is an error") {
  CHECK_FALSE(parse_www_authenticate("").ok());
  CHECK_FALSE(parse_www_authenticate(R"(Bearer realm="unterminated)").ok());
  CHECK_FALSE(parse_www_authenticate("Bearer realm=\"x\", =oops").ok());
  CHECK_FALSE(parse_www_authenticate(std::string(10000, 'a')).ok());
}

TEST_CASE("reference resolution: docker.io and library/") {
  auto resolve = [](const std::string& s) {
    auto p = parse_reference(s);
    REQUIRE(p.ok());
    return resolve_registry_ref(*p, {});
  };
  auto r = resolve("busybox");
  CHECK(r.registry == "registry-1.docker.io");
  CHECK(r.repository == "library/busybox");
  CHECK(r.reference == "latest");
  CHECK_FALSE(r.insecure);
  r = resolve("docker.io/library/python:3.12-slim");
  CHECK(r.registry == "registry-1.docker.io");
  CHECK(r.repository == "library/python");
  CHECK(r.reference == "3.12-slim");
  r = resolve("myorg/tool:1");
  CHECK(r.repository == "myorg/tool");
  r = resolve("127.0.0.1:5000/busybox@sha256:" + std::string(64, 'a'));
  CHECK(r.registry == "127.0.0.1:5000");
  CHECK(r.repository == "busybox");  // no library/ outside Docker Hub
  CHECK(r.reference == "sha256:" + std::string(64, 'a'));
  CHECK(r.insecure);
  CHECK(resolve("localhost:5000/x").insecure);
  CHECK_FALSE(resolve("ghcr.io/a/b").insecure);
}

TEST_CASE("insecure registries: loopback and the configured list only") {
  CHECK(is_insecure_registry("127.0.0.1:5001", {}));
  CHECK(is_insecure_registry("[::1]:5000", {}));
  CHECK_FALSE(is_insecure_registry("10.0.0.1:5000", {}));
  CHECK(is_insecure_registry("10.0.0.1:5000", {"10.0.0.1:5000"}));
  CHECK(is_insecure_registry("reg.lan:443", {"reg.lan"}));
  CHECK_FALSE(is_insecure_registry("reg.lan:5000", {"reg.lan:443"}));
}

TEST_CASE("manifest dispatch on Content-Type") {
  CHECK(*classify_manifest("application/vnd.oci.image.index.v1+json", "{}") ==
        ManifestKind::kIndex);
  CHECK(*classify_manifest("application/vnd.docker.distribution.manifest.list.v2+json", "{}") ==
        ManifestKind::kIndex);
  CHECK(*classify_manifest("application/vnd.oci.image.manifest.v1+json; charset=utf-8", "{}") ==
        ManifestKind::kManifest);
  CHECK(*classify_manifest("application/vnd.docker.distribution.manifest.v2+json", "{}") ==
        ManifestKind::kManifest);
  // Generic JSON: the document's own mediaType decides.
  CHECK(*classify_manifest("application/json",
                           R"({"mediaType":"application/vnd.oci.image.index.v1+json"})") ==
        ManifestKind::kIndex);
  auto s1 = classify_manifest("application/vnd.docker.distribution.manifest.v1+prettyjws", "{}");
  REQUIRE_FALSE(s1.ok());
  CHECK(s1.error().message.find("schema1") != std::string::npos);
  CHECK_FALSE(classify_manifest("text/html", "<html>").ok());
  CHECK_FALSE(classify_manifest("application/json", "not json").ok());
}

TEST_CASE("Accept header lists the four manifest types and never schema1") {
  std::string a = manifest_accept_header();
  for (auto mt : {media_type::kOciIndex, media_type::kOciManifest, media_type::kDockerManifestList,
                  media_type::kDockerManifest}) {
    CHECK(a.find(mt) != std::string::npos);
  }
  CHECK(a.find("distribution.manifest.v1") == std::string::npos);
}

TEST_CASE("redirects: Authorization only to the same scheme, host and port") {
  auto u = [](const std::string& s) {
    auto r = parse_url(s);
    REQUIRE(r.ok());
    return *r;
  };
  CHECK(same_origin(u("http://127.0.0.1:5002/v2/x"), u("http://127.0.0.1:5002/other")));
  CHECK(same_origin(u("https://reg.io/v2/"), u("https://REG.io:443/b")));
  CHECK_FALSE(same_origin(u("http://127.0.0.1:5002/v2/"), u("http://127.0.0.1:5003/blob")));
  CHECK_FALSE(same_origin(u("https://reg.io/"), u("http://reg.io/")));
  CHECK_FALSE(same_origin(u("https://reg.io/"), u("https://cdn.reg.io/")));
  auto rel = resolve_location("http://127.0.0.1:5002/v2/a/blobs/x", "/cdn/y");
  REQUIRE(rel.ok());
  CHECK(*rel == "http://127.0.0.1:5002/cdn/y");
  CHECK(*resolve_location("https://a/x", "//b:9/y") == "https://b:9/y");
  CHECK_FALSE(resolve_location("https://a/x", "").ok());
  CHECK_FALSE(resolve_location("https://a/x", "ftp://b/y").ok());
  CHECK_FALSE(parse_url("http://user:pw@host/").ok());
  CHECK_FALSE(parse_url("http://host:99999/").ok());
}

TEST_CASE("docker config: auths, helpers and keys") {
  std::string json = R"({
    "auths": {
      "https://index.docker.io/v1/": {"auth": ")" +
                     base64::encode("hub:pw") + R"("},
      "127.0.0.1:5001": {"auth": ")" +
                     base64::encode("agent:se:cret") + R"("},
      "https://reg.lan:5000/v2/": {"username": "u", "password": "p"},
      "placeholder.io": {}
    },
    "credsStore": "desktop",
    "credHelpers": {"ghcr.io": "gh"}
  })";
  auto cfg = parse_docker_config(json);
  REQUIRE(cfg.ok());
  CHECK(cfg->auths.at("index.docker.io").username == "hub");
  CHECK(cfg->auths.at("127.0.0.1:5001").secret == "se:cret");  // split at the first ':'
  CHECK(cfg->auths.at("reg.lan:5000").username == "u");
  CHECK(cfg->auths.count("placeholder.io") == 0);
  CHECK(cfg->creds_store == "desktop");
  CHECK(cfg->cred_helpers.at("ghcr.io") == "gh");
  CHECK_FALSE(parse_docker_config(R"({"auths":{"x":{"auth":"!!!"}}})").ok());
  CHECK_FALSE(parse_docker_config("[]").ok());
  CHECK(normalize_auth_key("HTTPS://Reg.IO:5000/v1/") == "reg.io:5000");
}

TEST_CASE("credential helper output") {
  auto c = parse_helper_output(R"({"ServerURL":"x","Username":"agent","Secret":"s"})");
  REQUIRE(c.ok());
  CHECK(c->username == "agent");
  CHECK(c->secret == "s");
  CHECK_FALSE(parse_helper_output(R"({"Username":"agent"})").ok());
  CHECK_FALSE(parse_helper_output("credentials not found").ok());
}

TEST_CASE("platform choice and --platform parsing") {
  std::vector<Descriptor> entries(3);
  entries[0].os = "linux", entries[0].architecture = "amd64", entries[0].digest = "a";
  entries[1].os = "linux", entries[1].architecture = "arm64", entries[1].variant = "v8",
  entries[1].digest = "b";
  entries[2].os = "unknown", entries[2].architecture = "unknown", entries[2].attestation = true,
  entries[2].digest = "c";
  PullOptions o;
  o.architecture = "amd64";
  CHECK(choose_platform(entries, o)->digest == "a");
  REQUIRE(parse_platform("linux/arm64/v8", o).ok());
  CHECK(choose_platform(entries, o)->digest == "b");
  REQUIRE(parse_platform("linux/arm64", o).ok());
  CHECK(o.variant.empty());
  CHECK(choose_platform(entries, o)->digest == "b");
  REQUIRE(parse_platform("linux/arm64/v7", o).ok());
  CHECK_FALSE(choose_platform(entries, o).ok());
  CHECK_FALSE(parse_platform("linux", o).ok());
  CHECK_FALSE(parse_platform("linux/", o).ok());
  CHECK_FALSE(parse_platform("a/b/c/d", o).ok());
  CHECK_FALSE(parse_platform("linux/amd 64", o).ok());
}
