// -v HOST:GUEST[:MODE] and --workspace: every rule of sandbox/mount_spec.h.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "sandbox/mount_spec.h"

using namespace matchlock;
using namespace matchlock::sandbox;

namespace {

// A host directory with a subdirectory "dir" and a file "file".
struct HostTree {
  std::string root;
  HostTree() {
    char tmpl[] = "/tmp/matchlock-mount-spec-XXXXXX";
    root = ::mkdtemp(tmpl);
    std::filesystem::create_directory(root + "/dir");
    std::ofstream(root + "/file") << "x";
  }
  ~HostTree() { std::filesystem::remove_all(root); }
};

std::string error_of(const Result<VfsOptions>& r) {
  REQUIRE_FALSE(r.ok());
  return r.error().message;
}

}  // namespace

TEST_CASE("clean_absolute_path_resolves_dots_lexically", "[sandbox][mount]") {
  CHECK(clean_absolute_path("/") == "/");
  CHECK(clean_absolute_path("//a///b/") == "/a/b");
  CHECK(clean_absolute_path("/a/./b/../c") == "/a/c");
  CHECK(clean_absolute_path("/../../x") == "/x");
  CHECK(clean_absolute_path("/a/..") == "/");
}

TEST_CASE("workspace_rules", "[sandbox][mount]") {
  CHECK(*parse_workspace("/workspace", "--workspace") == "/workspace");
  CHECK(*parse_workspace("/home/agent/./src/", "--workspace") == "/home/agent/src");
  CHECK(*parse_workspace("/tmp/work", "--workspace") == "/tmp/work");
  for (const char* bad :
       {"",       "workspace", "/",    "/proc", "/proc/x", "/sys/fs", "/dev",
        "/etc",   "/usr",      "/bin", "/sbin", "/lib",    "/lib64",  "/run",
        "/run/x", "/tmp",      "/var", "/a b",  "/a:b",    "/x/..",   "/etc/../usr"}) {
    auto r = parse_workspace(bad, "--workspace");
    INFO(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.rfind("invalid --workspace \"" + std::string(bad) + "\": ", 0) == 0);
  }
}

TEST_CASE("volume_paths_modes_and_defaults", "[sandbox][mount]") {
  HostTree t;
  auto r = parse_cli_vfs({t.root + "/dir:src", t.root + "/./dir/..:/workspace/all/:host_fs",
                          "dir:/workspace/ro:ro", "dir:r2:readonly", "file:f:overlay"},
                         "", t.root);
  REQUIRE(r.ok());
  const auto& m = r->mounts;
  REQUIRE(m.size() == 5);
  CHECK(r->workspace == "/workspace");
  CHECK(m[0].host_path == t.root + "/dir");
  CHECK(m[0].guest_path == "/workspace/src");
  CHECK(m[0].mode == MountMode::kOverlay);
  CHECK(m[1].host_path == t.root);
  CHECK(m[1].guest_path == "/workspace/all");
  CHECK(m[1].mode == MountMode::kHostFs);
  CHECK(m[2].mode == MountMode::kReadOnly);
  CHECK(m[3].mode == MountMode::kReadOnly);
  CHECK(m[4].host_path == t.root + "/file");
  CHECK(m[4].mode == MountMode::kOverlay);
}

TEST_CASE("volume_guest_path_relative_to_a_custom_workspace", "[sandbox][mount]") {
  HostTree t;
  auto r = parse_cli_vfs({"dir:.", "file:a/../b"}, "/home/agent/", t.root);
  REQUIRE(r.ok());
  CHECK(r->workspace == "/home/agent");
  CHECK(r->mounts[0].guest_path == "/home/agent");
  CHECK(r->mounts[1].guest_path == "/home/agent/b");
}

TEST_CASE("volume_errors_name_the_value", "[sandbox][mount]") {
  HostTree t;
  CHECK(error_of(parse_cli_vfs({"nope:x"}, "", t.root)) ==
        "invalid volume mount \"nope:x\": host path does not exist");
  CHECK(error_of(parse_cli_vfs({"dir"}, "", t.root)) ==
        "invalid volume mount \"dir\": expected HOST:GUEST[:overlay|host_fs|ro]");
  CHECK(error_of(parse_cli_vfs({"dir:"}, "", t.root)).find("expected HOST:GUEST") !=
        std::string::npos);
  CHECK(error_of(parse_cli_vfs({"dir:a:b:c"}, "", t.root)).find("expected HOST:GUEST") !=
        std::string::npos);
  CHECK(error_of(parse_cli_vfs({"dir:x:rw"}, "", t.root)) ==
        "invalid volume mount \"dir:x:rw\": unknown mode \"rw\" (overlay, host_fs, ro)");
  CHECK(error_of(parse_cli_vfs({"dir:/data"}, "", t.root)) ==
        "invalid volume mount \"dir:/data\": guest path must be within workspace: \"/data\" not "
        "in \"/workspace\"");
  CHECK(error_of(parse_cli_vfs({"dir:../x"}, "", t.root)).find("\"/x\" not in") !=
        std::string::npos);
  CHECK(error_of(parse_cli_vfs({"dir:/workspace2"}, "", t.root)).find("must be within") !=
        std::string::npos);
  CHECK(error_of(parse_cli_vfs({"dir:x"}, "/etc", t.root)).rfind("invalid --workspace", 0) == 0);
}

TEST_CASE("volume_conflicts", "[sandbox][mount]") {
  HostTree t;
  CHECK(error_of(parse_cli_vfs({"dir:a", "file:./a/"}, "", t.root)) ==
        "invalid volume mount \"file:./a/\": \"/workspace/a\" is mounted twice");
  CHECK(error_of(parse_cli_vfs({"file:f", "dir:f/sub"}, "", t.root)) ==
        "invalid volume mount \"dir:f/sub\": \"/workspace/f/sub\" is beneath the file mount "
        "\"/workspace/f\"");
  CHECK(error_of(parse_cli_vfs({"file:."}, "", t.root)).find("cannot be a file") !=
        std::string::npos);
  // Beneath a directory mount is fine (the inner mount wins there).
  CHECK(parse_cli_vfs({"dir:.", "dir:a", "file:a/f"}, "", t.root).ok());
}
