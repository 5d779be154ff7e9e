// rpc `list_sandboxes`: state rows in wire form.
#include <catch2/catch.hpp>

#include "core/json.h"
#include "rpc/sandbox_list.h"

using namespace matchlock;
using namespace matchlock::rpc;

namespace {

state::SandboxRow row(const std::string& id, const std::string& status, int64_t pid) {
  state::SandboxRow r;
  r.id = id;
  r.status = status;
  r.image = "matchlock/busybox:latest";
  r.owner_pid = pid;
  r.created_unix = 1714566896;  // 2024-05-01T12:34:56Z
  return r;
}

}  // namespace

TEST_CASE("sandbox_record_names_state_image_time_and_the_pid_of_an_active_one",
          "[rpc][sandbox_list]") {
  rapidjson::Document d;
  CHECK(
      json::to_string(sandbox_record_json(row("vm-0123abcd", "running", 42), d.GetAllocator())) ==
      R"({"id":"vm-0123abcd","state":"running","image":"matchlock/busybox:latest","pid":42,"created_at":"2024-05-01T12:34:56Z"})");
  // A stopped sandbox's recorded pid names a process that is gone: no pid.
  CHECK(
      json::to_string(sandbox_record_json(row("vm-1", "stopped", 42), d.GetAllocator())) ==
      R"({"id":"vm-1","state":"stopped","image":"matchlock/busybox:latest","created_at":"2024-05-01T12:34:56Z"})");
  CHECK(
      json::to_string(sandbox_record_json(row("vm-2", "creating", 0), d.GetAllocator())) ==
      R"({"id":"vm-2","state":"creating","image":"matchlock/busybox:latest","created_at":"2024-05-01T12:34:56Z"})");
}

TEST_CASE("sandbox_list_keeps_only_active_ones_when_asked", "[rpc][sandbox_list]") {
  std::vector<state::SandboxRow> rows = {row("vm-a", "running", 1), row("vm-b", "stopped", 2),
                                         row("vm-c", "creating", 3), row("vm-d", "crashed", 4)};
  auto ids = [](const rapidjson::Document& d) {
    std::vector<std::string> out;
    for (const auto& s : d["sandboxes"].GetArray()) out.emplace_back(s["id"].GetString());
    return out;
  };
  CHECK(ids(sandbox_list_result(rows, false)) ==
        std::vector<std::string>{"vm-a", "vm-b", "vm-c", "vm-d"});
  CHECK(ids(sandbox_list_result(rows, true)) == std::vector<std::string>{"vm-a", "vm-c"});
  CHECK(json::to_string(sandbox_list_result({}, true)) == R"({"sandboxes":[]})");
}
