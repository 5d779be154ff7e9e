#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "image/image_store.h"

using matchlock::image::normalize_reference;

namespace {
std::string norm(const std::string& r) {
  auto n = normalize_reference(r);
  REQUIRE(n.ok());
  return *n;
}
}  // namespace

TEST_CASE("a short name gets the latest tag", "[image][reference]") {
  CHECK(norm("busybox") == "busybox:latest");
  CHECK(norm("library/busybox") == "library/busybox:latest");
  CHECK(norm("matchlock/busybox:1.36") == "matchlock/busybox:1.36");
}

TEST_CASE("a registry with a port is kept apart from the tag", "[image][reference]") {
  CHECK(norm("localhost:5000/busybox") == "localhost:5000/busybox:latest");
  CHECK(norm("127.0.0.1:5000/org/repo:v2") == "127.0.0.1:5000/org/repo:v2");
  CHECK(norm("docker.io/library/busybox:latest") == "docker.io/library/busybox:latest");
}

TEST_CASE("a digest reference keeps its digest and gets no tag", "[image][reference]") {
  std::string d = "sha256:" + std::string(64, 'a');
  CHECK(norm("busybox@" + d) == "busybox@" + d);
  CHECK(norm("busybox:1@" + d) == "busybox:1@" + d);
}

TEST_CASE("malformed references are rejected with a one-line error naming them",
          "[image][reference]") {
  for (const std::string& bad : std::vector<std::string>{
           "", "Busybox", "busybox:", ":tag", "bus//box", "-busybox", "busybox@sha256:abc",
           "busybox@md5:" + std::string(32, 'a'), "busybox:-bad", "a b", "host:99999999/x",
           "busybox:" + std::string(129, 't')}) {
    auto r = normalize_reference(bad);
    INFO(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find('\n') == std::string::npos);
    CHECK(r.error().message.find("\"" + bad + "\"") != std::string::npos);
  }
}

TEST_CASE("uppercase is allowed in the registry host but not in the repository",
          "[image][reference]") {
  CHECK(norm("Registry.Example.com/repo") == "Registry.Example.com/repo:latest");
  CHECK_FALSE(normalize_reference("registry.example.com/Repo").ok());
}
