// rpc create `vfs` into VfsOptions: types, host paths, workspace, interception.
#include "rpc/vfs_params.h"

#include <catch2/catch.hpp>
#include <filesystem>

using namespace matchlock;
using namespace matchlock::rpc;
using sandbox::MountMode;

namespace {

Result<sandbox::VfsOptions> parse(const std::string& json) {
  rapidjson::Document d;
  d.Parse(json.c_str());
  REQUIRE_FALSE(d.HasParseError());
  return parse_vfs_params(d);
}

std::string error_of(const std::string& json) {
  auto r = parse(json);
  REQUIRE_FALSE(r.ok());
  return r.error().message;
}

struct HostDir {
  std::string path;
  HostDir() {
    char tmpl[] = "/tmp/matchlock-vfs-params-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~HostDir() { std::filesystem::remove_all(path); }
};

}  // namespace

TEST_CASE("vfs_params_mount_types", "[rpc][vfs]") {
  HostDir h;
  auto r = parse(R"({"workspace":"/home/w","mounts":{
      "/home/w":{"type":"memory"},
      "/home/w/a":{"type":"host_fs","host_path":")" +
                 h.path + R"("},
      "/home/w/b/":{"type":"host_fs","host_path":")" +
                 h.path + R"(","readonly":true},
      "/home/w/c":{"type":"overlay","host_path":")" +
                 h.path + R"(/."}},
      "interception":{"emit_events":true},"direct_mounts":{}})");
  REQUIRE(r.ok());
  CHECK(r->workspace == "/home/w");
  REQUIRE(r->mounts.size() == 4);
  CHECK(r->mounts[0].mode == MountMode::kMemory);
  CHECK(r->mounts[1].mode == MountMode::kHostFs);
  CHECK(r->mounts[1].host_path == h.path);
  CHECK(r->mounts[2].mode == MountMode::kReadOnly);
  CHECK(r->mounts[2].guest_path == "/home/w/b");
  CHECK(r->mounts[3].mode == MountMode::kOverlay);
  CHECK(r->mounts[3].host_path == h.path);
  CHECK(r->hooks.emit_events);
  // Workspace defaults; a workspace without mounts is an empty memory tree (no error).
  CHECK(parse("{}")->workspace == "/workspace");
  CHECK(parse(R"({"workspace":"/w2"})")->mounts.empty());
}

TEST_CASE("vfs_params_errors_name_the_field", "[rpc][vfs]") {
  HostDir h;
  CHECK(
      error_of(R"({"mounts":{"/workspace/x":{"type":"nfs"}}})") ==
      R"(invalid vfs.mounts["/workspace/x"].type: unknown type "nfs" (memory, host_fs, overlay))");
  CHECK(error_of(R"({"mounts":{"/workspace/x":{"type":"overlay"}}})") ==
        R"(invalid vfs.mounts["/workspace/x"].host_path: is required for overlay)");
  CHECK(error_of(R"({"mounts":{"/workspace/x":{"type":"host_fs","host_path":"rel"}}})") ==
        R"(invalid vfs.mounts["/workspace/x"].host_path: must be absolute)");
  CHECK(
      error_of(R"({"mounts":{"/workspace/x":{"type":"host_fs","host_path":"/nonexistent/q"}}})") ==
      R"(invalid vfs.mounts["/workspace/x"].host_path: host path does not exist: "/nonexistent/q")");
  CHECK(
      error_of(R"({"mounts":{"/x":{}}})") ==
      R"(invalid vfs.mounts["/x"]: guest path must be within workspace: "/x" not in "/workspace")");
  CHECK(error_of(R"({"mounts":{"/workspace/../x":{}}})").find("not in \"/workspace\"") !=
        std::string::npos);
  CHECK(error_of(R"({"mounts":{"x":{}}})") ==
        R"(invalid vfs.mounts["x"]: guest path must be absolute)");
  CHECK(error_of(R"({"mounts":{"/workspace/a":{},"/workspace/a/":{}}})") ==
        R"(invalid vfs.mounts["/workspace/a/"]: "/workspace/a" is mounted twice)");
  CHECK(error_of(R"({"mounts":{"/workspace/a":{"readonly":true}}})") ==
        R"(invalid vfs.mounts["/workspace/a"].readonly: a memory mount cannot be read-only)");
  CHECK(error_of(R"({"mounts":{"/workspace/a":{"type":"overlay","host_path":")" + h.path +
                 R"(","upper":{}}}})") ==
        R"(invalid vfs.mounts["/workspace/a"]: upper/lower are not supported)");
  CHECK(error_of(R"({"workspace":"/proc"})") ==
        R"(invalid vfs.workspace "/proc": is a system directory the guest needs)");
  CHECK(error_of(R"({"workspace":"/a b"})").rfind("invalid vfs.workspace", 0) == 0);
  CHECK(error_of(R"({"interception":{"rules":[{"ops":["x"]}]}})") ==
        R"(invalid vfs.interception.rules[0].ops: unknown op "x")");
  CHECK(error_of(R"({"mounts":[]})") == "invalid vfs.mounts: must be an object");
  CHECK(error_of(R"([])") == "invalid vfs: must be an object");
}
