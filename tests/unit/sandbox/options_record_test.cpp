#include <catch2/catch.hpp>

#include "core/json.h"
#include "sandbox/network_policy.h"
#include "sandbox/options_record.h"

using namespace matchlock;
using namespace matchlock::sandbox;

namespace {
Secret secret(std::string name, std::string value, std::vector<std::string> hosts) {
  return Secret{std::move(name), std::move(value), std::move(hosts),
                "SANDBOX_SECRET_0123456789abcdef0123456789abcdef"};
}
}  // namespace

TEST_CASE("the record names secrets and hosts, never values or placeholders", "[sandbox][secret]") {
  SandboxOptions o;
  o.image = "busybox";
  o.secrets.push_back(secret("API_KEY", "sk-very-secret-value", {"api.example.com"}));
  std::string json = options_record_json(o);
  CHECK(json.find("sk-very-secret-value") == std::string::npos);
  CHECK(json.find("SANDBOX_SECRET_") == std::string::npos);
  rapidjson::Document d;
  d.Parse(json.c_str());
  REQUIRE(d.IsObject());
  const auto& net = d["network"];
  CHECK(std::string(net["mode"].GetString()) == "interception");
  REQUIRE(net["secrets"].Size() == 1);
  CHECK(std::string(net["secrets"][0]["name"].GetString()) == "API_KEY");
  CHECK(std::string(net["secrets"][0]["hosts"][0].GetString()) == "api.example.com");
  CHECK(net["secrets"][0].MemberCount() == 2);
}

TEST_CASE("the record keeps the plugin flags", "[sandbox][plugins]") {
  SandboxOptions o;
  o.image = "busybox";
  o.plugins.usage_log_path = "/tmp/usage.jsonl";
  o.plugins.budget_limit_usd = 3.5;
  o.plugins.model_routes.push_back(*parse_model_route_spec("a.com/m=n@127.0.0.1:9"));
  o.plugins.interception_rules_json = "[]";
  o.plugins.run_id = "run-1";
  rapidjson::Document d;
  d.Parse(options_record_json(o).c_str());
  const auto& net = d["network"];
  CHECK(std::string(net["mode"].GetString()) == "interception");
  const auto& p = net["plugins"];
  CHECK(std::string(p["usage_log_path"].GetString()) == "/tmp/usage.jsonl");
  CHECK(p["budget_limit_usd"].GetDouble() == 3.5);
  CHECK(std::string(p["local_model_routes"][0].GetString()) == "a.com/m=n@127.0.0.1:9");
  CHECK(p["interception_rules"].GetBool());
  CHECK(std::string(p["run_id"].GetString()) == "run-1");
  CHECK_FALSE(p.HasMember("event_log"));
}

TEST_CASE("the record keeps the workspace and its mounts", "[sandbox][vfs]") {
  SandboxOptions o;
  o.image = "busybox";
  o.vfs.workspace = "/work";
  o.vfs.mounts.push_back({"/work/src", "/home/me/src", MountMode::kReadOnly});
  o.vfs.mounts.push_back({"/work/tmp", "", MountMode::kMemory});
  rapidjson::Document d;
  d.Parse(options_record_json(o).c_str());
  const auto& vfs = d["vfs"];
  CHECK(std::string(vfs["workspace"].GetString()) == "/work");
  REQUIRE(vfs["mounts"].Size() == 2);
  CHECK(std::string(vfs["mounts"][0]["host_path"].GetString()) == "/home/me/src");
  CHECK(std::string(vfs["mounts"][0]["mode"].GetString()) == "ro");
  CHECK_FALSE(vfs["mounts"][1].HasMember("host_path"));
  CHECK_FALSE(vfs.HasMember("hook_rules"));
}

TEST_CASE("secrets and plugin options ask for interception; their hosts join the allow-list",
          "[sandbox][secret]") {
  SandboxOptions o;
  CHECK_FALSE(wants_interception(o));
  o.secrets.push_back(secret("A", "v", {"a.com", "b.com"}));
  o.secrets.push_back(secret("B", "w", {"b.com", "*.c.com"}));
  CHECK(wants_interception(o));
  o.allowed_hosts = {"x.com", "a.com"};
  CHECK(effective_allowed_hosts(o) ==
        std::vector<std::string>{"x.com", "a.com", "b.com", "*.c.com"});
  o.no_network = true;  // the parsers refuse the mix; the mode never claims it
  CHECK_FALSE(wants_interception(o));
  SandboxOptions p;
  p.force_interception = true;
  CHECK(wants_interception(p));
  SandboxOptions q;
  q.plugins.event_log_path = "/tmp/e.jsonl";
  CHECK(wants_interception(q));
}

TEST_CASE("forget_value drops the value and keeps the rest", "[sandbox][secret]") {
  Secret s = secret("A", std::string(100, 'x'), {"a.com"});
  forget_value(s);
  CHECK(s.value.empty());
  CHECK(s.name == "A");
  CHECK(s.placeholder.starts_with("SANDBOX_SECRET_"));
}
