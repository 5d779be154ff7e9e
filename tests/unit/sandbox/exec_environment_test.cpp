#include <algorithm>
#include <catch2/catch.hpp>

#include "sandbox/exec_environment.h"

using namespace matchlock;
using namespace matchlock::sandbox;

namespace {
image::ImageConfig image_with(std::vector<std::string> ep, std::vector<std::string> cmd) {
  image::ImageConfig c;
  c.entrypoint = std::move(ep);
  c.cmd = std::move(cmd);
  return c;
}
using V = std::vector<std::string>;
}  // namespace

TEST_CASE("user args replace CMD but keep ENTRYPOINT", "[sandbox]") {
  auto img = image_with({"/bin/sh", "-c"}, {"id; pwd"});
  CHECK(compose_docker_command(img, std::nullopt, std::nullopt, {"echo hi"}) ==
        V{"/bin/sh", "-c", "echo hi"});
  CHECK(compose_docker_command(img, std::nullopt, std::nullopt, {}) ==
        V{"/bin/sh", "-c", "id; pwd"});
}

TEST_CASE("an entrypoint override drops the image CMD", "[sandbox]") {
  auto img = image_with({"/bin/sh", "-c"}, {"id"});
  CHECK(compose_docker_command(img, V{"/bin/echo"}, std::nullopt, {}) == V{"/bin/echo"});
  CHECK(compose_docker_command(img, V{}, std::nullopt, {"ls", "/"}) == V{"ls", "/"});
  CHECK(compose_docker_command(img, V{}, std::nullopt, {}).empty());
}

TEST_CASE("later environment layers override earlier ones in first-seen order", "[sandbox]") {
  auto env = compose_exec_env({"PATH=/img", "A=1", "B=2"}, {"B=3", "C=4"}, {"A=5"}, "vm-1", false);
  CHECK(env == V{"HOSTNAME=vm-1", "PATH=/img", "A=5", "B=3", "C=4"});
}

TEST_CASE("default PATH and TERM are added only when missing", "[sandbox]") {
  auto env = compose_exec_env({}, {}, {}, "h", true);
  CHECK(env == V{"HOSTNAME=h", kDefaultPath, "TERM=xterm"});
  env = compose_exec_env({}, {"TERM=vt100"}, {}, "h", true);
  CHECK(env == V{"HOSTNAME=h", "TERM=vt100", kDefaultPath});
}

TEST_CASE("secret placeholders come last and always win", "[sandbox][secret]") {
  auto env = compose_exec_env({"API_KEY=from-image"}, {"API_KEY=from-e"}, {"API_KEY=from-exec"},
                              "h", false, {"API_KEY=SANDBOX_SECRET_00"});
  CHECK(std::find(env.begin(), env.end(), "API_KEY=SANDBOX_SECRET_00") != env.end());
  CHECK(std::count_if(env.begin(), env.end(),
                      [](const std::string& kv) { return kv.starts_with("API_KEY="); }) == 1);
}
