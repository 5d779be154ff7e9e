#include "cli/sandbox_json.h"

#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <string>

using matchlock::cli::ProcessLiveness;
using matchlock::cli::sandbox_inspect_json;
using matchlock::cli::sandbox_summary_json;
using matchlock::state::LifecycleRow;
using matchlock::state::SandboxRow;

namespace {

SandboxRow sample_row() {
  SandboxRow row;
  row.id = "vm-0123abcd";
  row.status = "running";
  row.image = "matchlock/busybox:latest";
  row.owner_pid = 4242;
  row.owner_start_time = 99;
  row.created_unix = 1700000000;
  return row;
}

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str());
  REQUIRE_FALSE(d.HasParseError());
  REQUIRE(d.IsObject());
  return d;
}

}  // namespace

TEST_CASE("get prints the summary fields with RFC 3339 time and null for unknown pids",
          "[cli][json]") {
  auto d = parse(sandbox_summary_json(sample_row()));
  CHECK(std::string(d["id"].GetString()) == "vm-0123abcd");
  CHECK(std::string(d["status"].GetString()) == "running");
  CHECK(std::string(d["image"].GetString()) == "matchlock/busybox:latest");
  CHECK(std::string(d["created_at"].GetString()) == "2023-11-14T22:13:20Z");
  CHECK(d["owner_pid"].GetInt64() == 4242);
  CHECK(d["qemu_pid"].IsNull());
}

TEST_CASE("inspect lifts the recorded configuration's sections and the history", "[cli][json]") {
  SandboxRow row = sample_row();
  row.qemu_pid = 4343;
  row.config_json = R"({"resources":{"cpus":1.5,"memory_mb":512},
    "network":{"allowed_hosts":["api.example.com"]},
    "vfs":{"mounts":{"/w":{"type":"host_fs","host_path":"/tmp/w"}}},
    "ports":[{"local_port":8080,"remote_port":80}]})";
  std::vector<LifecycleRow> history = {{1, row.id, "creating", "sha256:ab", 1700000000},
                                       {2, row.id, "running", "", 1700000002}};
  auto d = parse(sandbox_inspect_json(row, history, ProcessLiveness{true, false}));
  CHECK(d["resources"]["cpus"].GetDouble() == 1.5);
  CHECK(std::string(d["network"]["allowed_hosts"][0].GetString()) == "api.example.com");
  CHECK(d["mounts"]["/w"].IsObject());
  CHECK(d["ports"][0]["local_port"].GetInt() == 8080);
  CHECK(d["config"]["resources"]["memory_mb"].GetInt() == 512);
  CHECK(d["owner"]["pid"].GetInt64() == 4242);
  CHECK(d["owner"]["alive"].GetBool());
  CHECK(d["qemu"]["pid"].GetInt64() == 4343);
  CHECK_FALSE(d["qemu"]["alive"].GetBool());
  REQUIRE(d["history"].Size() == 2);
  CHECK(std::string(d["history"][0]["phase"].GetString()) == "creating");
  CHECK(std::string(d["history"][1]["at"].GetString()) == "2023-11-14T22:13:22Z");
}

TEST_CASE("inspect without a recorded configuration shows nulls", "[cli][json]") {
  for (const char* config : {"", "not json", "[1,2]"}) {
    SandboxRow row = sample_row();
    row.config_json = config;
    auto d = parse(sandbox_inspect_json(row, {}, {}));
    CHECK(d["config"].IsNull());
    CHECK(d["resources"].IsNull());
    CHECK(d["network"].IsNull());
    CHECK(d["mounts"].IsNull());
    CHECK(d["ports"].IsNull());
    CHECK(d["history"].IsArray());
  }
}

TEST_CASE("inspect never prints a secret value, even an unredacted one", "[cli][json]") {
  SandboxRow row = sample_row();
  row.config_json = R"({"network":{"secrets":{
      "OPENAI_API_KEY":{"value":"sk-live-SECRET","hosts":["api.openai.com"]},
      "BARE":"bare-SECRET"}}})";
  const std::string text = sandbox_inspect_json(row, {}, {});
  CHECK(text.find("SECRET") == std::string::npos);
  auto d = parse(text);
  CHECK(std::string(d["network"]["secrets"]["OPENAI_API_KEY"]["hosts"][0].GetString()) ==
        "api.openai.com");
  CHECK(d["config"]["network"]["secrets"].HasMember("BARE"));
}
