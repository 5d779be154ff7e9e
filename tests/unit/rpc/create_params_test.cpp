#include <rapidjson/document.h>
#include <stdlib.h>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "rpc/create_params.h"
#include "sandbox/network_policy.h"
#include "sandbox/secret_spec.h"

using namespace matchlock;
using namespace matchlock::rpc;

namespace {
Result<CreateRequest> parse(const char* json) {
  rapidjson::Document d;
  d.Parse(json);
  REQUIRE_FALSE(d.HasParseError());
  return parse_create_params(&d);
}
std::string error_of(const char* json) {
  auto r = parse(json);
  REQUIRE_FALSE(r.ok());
  return r.error().message;
}
}  // namespace

TEST_CASE("create_requires_an_image", "[rpc][create]") {
  CHECK(parse_create_params(nullptr).error().message == "image is required (e.g., alpine:latest)");
  CHECK(error_of(R"({"image":""})") == "image is required (e.g., alpine:latest)");
}

TEST_CASE("create_rejects_a_client_supplied_id", "[rpc][create]") {
  CHECK(error_of(R"({"image":"alpine:latest","id":"vm-12345678"})") ==
        "id is internal-only and cannot be set");
}

TEST_CASE("create_maps_sdk_params_onto_sandbox_options", "[rpc][create]") {
  auto r = parse(R"({"image":"alpine:latest","privileged":true,"launch_entrypoint":true,
      "resources":{"cpus":1,"memory_mb":256,"disk_size_mb":2048,"timeout_seconds":300},
      "env":{"FOO":"bar"},
      "image_config":{"user":"1000:1000","working_dir":"/app","entrypoint":[],"cmd":["app.py"],
                      "env":{"K":"V"}},
      "network":{"allowed_hosts":[],"block_private_ips":true,"hostname":"box",
                 "dns_servers":["1.1.1.1","2606:4700::1111"]},
      "some_future_field":{"x":1}})");
  REQUIRE(r.ok());
  const auto& o = r->options;
  CHECK(r->launch_entrypoint);
  CHECK(o.image == "alpine:latest");
  CHECK(o.privileged);
  CHECK(o.cpus == 1.0);
  CHECK(o.memory_mib == 256);
  CHECK(o.disk_size_mib == 2048);
  CHECK(o.env == std::vector<std::string>{"K=V", "FOO=bar"});
  CHECK(o.user == "1000:1000");
  CHECK(o.workdir == "/app");
  REQUIRE(o.entrypoint.has_value());
  CHECK(o.entrypoint->empty());
  CHECK(o.cmd == std::vector<std::string>{"app.py"});
  CHECK(o.hostname == "box");
  CHECK(o.dns_servers == std::vector<std::string>{"1.1.1.1", "2606:4700::1111"});
}

TEST_CASE("create_zero_resources_keep_the_defaults", "[rpc][create]") {
  auto r = parse(R"({"image":"a","resources":{"cpus":0,"memory_mb":0,"disk_size_mb":0}})");
  REQUIRE(r.ok());
  sandbox::SandboxOptions defaults;
  CHECK(r->options.cpus == defaults.cpus);
  CHECK(r->options.memory_mib == defaults.memory_mib);
  CHECK(r->options.disk_size_mib == defaults.disk_size_mib);
  CHECK(r->options.dns_servers == defaults.dns_servers);
}

TEST_CASE("create_invalid_values_name_the_field", "[rpc][create]") {
  CHECK(error_of(R"({"image":"a","resources":{"cpus":-1}})").rfind("invalid resources.cpus:", 0) ==
        0);
  CHECK(error_of(R"({"image":"a","resources":{"cpus":"2"}})").rfind("invalid resources.cpus:", 0) ==
        0);
  CHECK(error_of(R"({"image":"a","resources":{"cpus":100000}})")
            .rfind("invalid resources.cpus:", 0) == 0);
  CHECK(error_of(R"({"image":"a","resources":{"memory_mb":1}})")
            .rfind("invalid resources.memory_mb:", 0) == 0);
  CHECK(error_of(R"({"image":"a","resources":{"memory_mb":512.5}})")
            .rfind("invalid resources.memory_mb:", 0) == 0);
  CHECK(error_of(R"({"image":"a","resources":{"disk_size_mb":-5}})")
            .rfind("invalid resources.disk_size_mb:", 0) == 0);
  CHECK(error_of(R"({"image":"a","resources":{"timeout_seconds":-1}})")
            .rfind("invalid resources.timeout_seconds:", 0) == 0);
  CHECK(error_of(R"({"image":"a","env":{"A=B":"x"}})").rfind("invalid env:", 0) == 0);
  CHECK(error_of(R"({"image":"a","env":{"A":1}})").rfind("invalid env.A:", 0) == 0);
  CHECK(error_of(R"({"image":"a","privileged":"yes"})").rfind("invalid privileged:", 0) == 0);
  CHECK(error_of(R"({"image":"a","image_config":{"user":"a b"}})").find("image_config.user") !=
        std::string::npos);
  CHECK(error_of(R"({"image":"a","image_config":{"working_dir":"rel"}})")
            .find("image_config.working_dir") != std::string::npos);
  CHECK(error_of(R"({"image":"a","image_config":{"cmd":"ls"}})")
            .rfind("invalid image_config.cmd:", 0) == 0);
  CHECK(error_of(R"({"image":"a","network":{"hostname":"bad_host"}})").find("network.hostname") !=
        std::string::npos);
  CHECK(error_of(R"({"image":"a","network":{"dns_servers":["dns.google"]}})")
            .rfind("invalid network.dns_servers:", 0) == 0);
}

TEST_CASE("create_no_network_conflicts_are_invalid_configuration", "[rpc][create]") {
  CHECK(error_of(R"({"image":"a","network":{"no_network":true,"allowed_hosts":["x.com"]}})") ==
        "invalid configuration: network.no_network cannot be combined with network.allowed_hosts");
  auto ok = parse(
      R"({"image":"a","network":{"no_network":true,"hostname":"h","dns_servers":["1.1.1.1"]}})");
  REQUIRE(ok.ok());
  CHECK(ok->options.no_network);
}

TEST_CASE("create_network_fields_fill_the_options", "[rpc][create]") {
  auto ok = parse(R"({"image":"a","network":{"allowed_hosts":["api.openai.com","*.x.com"],
      "add_hosts":[{"host":"db.internal","ip":"10.0.0.10"}],"mtu":9000,"block_private_ips":true}})");
  REQUIRE(ok.ok());
  CHECK(ok->options.allowed_hosts == std::vector<std::string>{"api.openai.com", "*.x.com"});
  REQUIRE(ok->options.add_hosts.size() == 1);
  CHECK(ok->options.add_hosts[0].first == "db.internal");
  CHECK(ok->options.mtu == 9000);
  CHECK(ok->options.block_private_ips);
  auto dflt = parse(R"({"image":"a","network":{"mtu":0}})");
  REQUIRE(dflt.ok());
  CHECK(dflt->options.mtu == 1500);
  CHECK_FALSE(dflt->options.block_private_ips);  // a network object replaces the defaults
  CHECK(error_of(R"({"image":"a","network":{"add_hosts":[{"host":"a b","ip":"1.2.3.4"}]}})") ==
        "invalid network.add_hosts: invalid add-host mapping");
  CHECK(error_of(R"({"image":"a","network":{"mtu":100}})").find("network.mtu") !=
        std::string::npos);
}

TEST_CASE("create_takes_vfs_mounts", "[rpc][create][vfs]") {
  auto r = parse(R"({"image":"a","vfs":{"workspace":"/workspace","mounts":{"/workspace":{}}}})");
  REQUIRE(r.ok());
  REQUIRE(r->options.vfs.mounts.size() == 1);
  CHECK(r->options.vfs.mounts[0].mode == sandbox::MountMode::kMemory);
  CHECK(error_of(R"({"image":"a","vfs":{"mounts":{"/workspace":{"type":"nfs"}}}})") ==
        R"(invalid vfs.mounts["/workspace"].type: unknown type "nfs" (memory, host_fs, overlay))");
}

TEST_CASE("create_takes_secrets_by_name_with_a_fresh_placeholder", "[rpc][create][secret]") {
  auto r = parse(R"({"image":"a","network":{"allowed_hosts":[],"block_private_ips":true,
      "secrets":{"OPENAI_API_KEY":{"value":"sk-live-123","hosts":["api.openai.com"]},
                 "ANY":{"value":"v2","hosts":[],"placeholder":""}}}})");
  REQUIRE(r.ok());
  const auto& secrets = r->options.secrets;
  REQUIRE(secrets.size() == 2);
  CHECK(secrets[0].name == "OPENAI_API_KEY");
  CHECK(secrets[0].value == "sk-live-123");
  CHECK(secrets[0].hosts == std::vector<std::string>{"api.openai.com"});
  CHECK(sandbox::is_secret_placeholder(secrets[0].placeholder));
  CHECK(secrets[1].hosts == std::vector<std::string>{"*"});  // empty hosts = any host
  CHECK(secrets[0].placeholder != secrets[1].placeholder);
}

TEST_CASE("create_accepts_a_client_placeholder_only_in_the_engine_form", "[rpc][create][secret]") {
  const std::string ph = "SANDBOX_SECRET_0123456789abcdef0123456789abcdef";
  auto secret = [&](const char* value) {
    return std::string(R"({"value":")") + value + R"(","placeholder":")" + ph + R"("})";
  };
  std::string one = R"({"image":"a","network":{"secrets":{"K":)" + secret("v") + "}}}";
  auto ok = parse(one.c_str());
  REQUIRE(ok.ok());
  CHECK(ok->options.secrets[0].placeholder == ph);
  CHECK(error_of(R"({"image":"a","network":{"secrets":{"K":{"value":"v","placeholder":"x"}}}})") ==
        "invalid network.secrets.K.placeholder: must be SANDBOX_SECRET_ and 32 lowercase hex "
        "digits");
  std::string two =
      R"({"image":"a","network":{"secrets":{"A":)" + secret("v") + R"(,"B":)" + secret("w") + "}}}";
  CHECK(error_of(two.c_str()) ==
        "invalid network.secrets.B.placeholder: is used by another secret");
}

TEST_CASE("create_secret_errors_name_the_field_never_the_value", "[rpc][create][secret]") {
  const char* cases[] = {
      R"({"image":"a","network":{"secrets":{"K":{"value":"TOPSECRET\r\nX: y"}}}})",
      R"({"image":"a","network":{"secrets":{"K":{"value":""}}}})",
      R"({"image":"a","network":{"secrets":{"K":{"value":"TOPSECRET","hosts":["bad host"]}}}})",
      R"({"image":"a","network":{"secrets":{"K":{"value":"TOPSECRET","hosts":"x.com"}}}})",
      R"({"image":"a","network":{"secrets":{"1K":{"value":"TOPSECRET"}}}})",
      R"({"image":"a","network":{"secrets":{"K":"TOPSECRET"}}})",
      R"({"image":"a","network":{"secrets":["TOPSECRET"]}})",
  };
  for (const char* json : cases) {
    std::string e = error_of(json);
    CHECK(e.find("network.secrets") != std::string::npos);
    CHECK(e.find("TOPSECRET") == std::string::npos);
  }
  CHECK(error_of(R"({"image":"a","network":{"no_network":true,"secrets":{"K":{"value":"v"}}}})") ==
        "invalid configuration: network.no_network cannot be combined with network.secrets");
}

TEST_CASE("create_intercept_and_interception_turn_interception_on", "[rpc][create]") {
  auto forced = parse(R"({"image":"a","network":{"allowed_hosts":[],"intercept":true}})");
  REQUIRE(forced.ok());
  CHECK(forced->options.force_interception);
  CHECK(sandbox::wants_interception(forced->options));
  auto rules = parse(R"({"image":"a","network":{"interception":{
      "callback_socket":"/tmp/hook.sock","rules":[{"phase":"before","action":"block"}]}}})");
  REQUIRE(rules.ok());
  CHECK(rules->options.plugins.callback_socket == "/tmp/hook.sock");
  CHECK(rules->options.plugins.interception_rules_json ==
        R"([{"phase":"before","action":"block"}])");
  CHECK(sandbox::wants_interception(rules->options));
  CHECK(error_of(R"({"image":"a","network":{"interception":{"rules":{}}}})") ==
        "invalid network.interception.rules: must be an array");
  CHECK(error_of(R"({"image":"a","network":{"intercept":"yes"}})") ==
        "invalid network.intercept: must be a boolean");
  auto plain = parse(R"({"image":"a","network":{"intercept":false}})");
  REQUIRE(plain.ok());
  CHECK_FALSE(sandbox::wants_interception(plain->options));
}

TEST_CASE("create extra_disks: validated like --disk, errors name extra_disks[i].field",
          "[rpc][create][disk]") {
  char dir[] = "/tmp/matchlock-rpc-disk-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  const std::string img = std::string(dir) + "/v.img";
  std::string image(4096, '\0');
  image[1080] = '\x53';
  image[1081] = '\xEF';
  std::ofstream(img, std::ios::binary) << image;
  auto req = [&](const std::string& disks) {
    return R"({"image":"a","extra_disks":)" + disks + "}";
  };
  auto ok = parse(
      req(R"([{"host_path":")" + img + R"(","guest_mount":"/data","readonly":true}])").c_str());
  REQUIRE(ok.ok());
  REQUIRE(ok->options.disks.size() == 1);
  CHECK(ok->options.disks[0].host_path == img);
  CHECK(ok->options.disks[0].guest_path == "/data");
  CHECK(ok->options.disks[0].readonly);
  CHECK(parse(req("[]").c_str())->options.disks.empty());
  CHECK(parse(R"({"image":"a","extra_disks":null})")->options.disks.empty());

  CHECK(error_of(req("{}").c_str()) == "invalid extra_disks: must be an array");
  CHECK(error_of(req("[1]").c_str()) == "invalid extra_disks[0]: must be an object");
  CHECK(error_of(req(R"([{"host_path":"rel.img","guest_mount":"/d"}])").c_str()) ==
        "invalid extra_disks[0].host_path: must be an absolute path or @NAME of a volume");
  CHECK(error_of(req(R"([{"host_path":"/nonexistent.img","guest_mount":"/d"}])").c_str()) ==
        "invalid extra_disks[0].host_path: host file /nonexistent.img: No such file or directory");
  CHECK(error_of(req(R"([{"host_path":")" + img + R"(","guest_mount":"/proc/x"}])").c_str())
            .rfind("invalid extra_disks[0].guest_mount: guest path \"/proc/x\"", 0) == 0);
  CHECK(error_of(req(R"([{"host_path":")" + img + R"(","guest_mount":"/d","readonly":"yes"}])")
                     .c_str()) == "invalid extra_disks[0].readonly: must be a boolean");
  CHECK(error_of(req(R"([{"host_path":")" + img + R"(","guest_mount":"/a"},{"host_path":")" + img +
                     R"(","guest_mount":"/b"}])")
                     .c_str()) ==
        "invalid extra_disks[1].host_path: the same image as an earlier disk: " + img);
  CHECK(error_of(req(R"([{"host_path":")" + img + R"(","guest_mount":"/workspace/d"}])").c_str()) ==
        "invalid extra_disks[0].guest_mount: \"/workspace/d\" is shadowed by the workspace "
        "\"/workspace\"");
  std::filesystem::remove_all(dir);
}
