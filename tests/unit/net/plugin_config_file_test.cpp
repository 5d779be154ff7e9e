#include "net/policy/plugin_config_file.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

using namespace matchlock;
using namespace matchlock::net::policy;

namespace {

std::string error_of(const std::string& text, PluginSettings base = {}) {
  auto settings = parse_plugin_config(text, "plugins.json", std::move(base));
  REQUIRE_FALSE(settings.ok());
  CHECK(settings.error().message.find('\n') == std::string::npos);
  CHECK(settings.error().message.rfind("plugin config plugins.json: ", 0) == 0);
  return settings.error().message.substr(std::string("plugin config plugins.json: ").size());
}

}  // namespace

TEST_CASE("plugin_config_reads_every_plugin_type", "[plugin_config]") {
  PluginSettings base;
  base.model_routes.push_back({"api.openai.com", "gpt-4", "llama3", "", 0});
  base.external_plugins.push_back({"first", {"/bin/true"}, {"gate"}, 100});
  auto settings = parse_plugin_config(R"({"plugins":[
      {"type":"local_model_router","backend":"127.0.0.1:11434",
       "routes":["openrouter.ai/meta-llama/llama-3-8b=llama3:8b@10.0.0.5:8080"]},
      {"type":"usage_logger","path":"/tmp/usage.jsonl"},
      {"type":"budget_gate","limit_usd":2.5},
      {"type":"interception_rules","rules":[{"action":"block","hosts":["evil.com"]}]},
      {"type":"external","name":"audit","command":["python3","audit.py"],
       "phases":["gate","response"],"timeout_ms":750}
    ]})",
                                      "plugins.json", base);
  REQUIRE(settings.ok());
  CHECK(settings->local_model_backend == "127.0.0.1:11434");
  REQUIRE(settings->model_routes.size() == 2);
  CHECK(settings->model_routes[0].source_model == "gpt-4");  // flags first
  CHECK(settings->model_routes[1].source_model == "meta-llama/llama-3-8b");
  CHECK(settings->model_routes[1].backend_port == 8080);
  CHECK(settings->usage_log_path == "/tmp/usage.jsonl");
  CHECK(settings->budget_limit_usd == 2.5);
  CHECK(settings->interception_rules_json.find("evil.com") != std::string::npos);
  REQUIRE(settings->external_plugins.size() == 2);
  CHECK(settings->external_plugins[1].name == "audit");
  CHECK(settings->external_plugins[1].argv == std::vector<std::string>{"python3", "audit.py"});
  CHECK(settings->external_plugins[1].phases == std::vector<std::string>{"gate", "response"});
  CHECK(settings->external_plugins[1].timeout_ms == 750);
}

TEST_CASE("plugin_config_errors_name_the_file_and_field", "[plugin_config]") {
  CHECK(error_of("{").rfind("not valid JSON", 0) == 0);
  CHECK(error_of("[]") == "must be a JSON object {\"plugins\": [...]}");
  CHECK(error_of(R"({"plugin":[]})") == "plugin: unknown member");
  CHECK(error_of(R"({"plugins":{}})") == "plugins: must be an array");
  CHECK(error_of(R"({"plugins":[{"type":"magic"}]})")
            .rfind("plugins[0].type: unknown plugin type", 0) == 0);
  CHECK(error_of(R"({"plugins":[{}]})") == "plugins[0].type: required");
  CHECK(error_of(R"({"plugins":[{"type":"budget_gate","limit_usd":-1}]})")
            .rfind("plugins[0].limit_usd:", 0) == 0);
  CHECK(error_of(R"({"plugins":[{"type":"budget_gate","limit_usd":"5"}]})")
            .rfind("plugins[0].limit_usd:", 0) == 0);
  CHECK(
      error_of(R"({"plugins":[{"type":"budget_gate","limit_usd":5}]})").find("needs a usage log") !=
      std::string::npos);
  CHECK(error_of(R"({"plugins":[{"type":"usage_logger","path":"/a","colour":"red"}]})") ==
        "plugins[0].colour: unknown member");
  CHECK(error_of(R"({"plugins":[{"type":"local_model_router","routes":["nope"]}]})")
            .rfind("plugins[0].routes[0]: --local-model-route", 0) == 0);
  CHECK(error_of(R"({"plugins":[{"type":"local_model_router","backend":"x","routes":[]}]})")
            .rfind("plugins[0].backend: --local-model-backend", 0) == 0);
  CHECK(
      error_of(R"({"plugins":[{"type":"external","name":"a","command":[],"phases":["gate"]}]})") ==
      "plugins[0].command: must not be empty");
  CHECK(
      error_of(R"({"plugins":[{"type":"external","name":"a","command":["x"],"phases":["later"]}]})")
          .rfind("plugins[0].phases: unknown phase", 0) == 0);
  CHECK(
      error_of(
          R"({"plugins":[{"type":"external","name":"a","command":["x"],"phases":["gate"],"timeout_ms":0}]})") ==
      "plugins[0].timeout_ms: must be a positive integer");
  CHECK(error_of(R"({"plugins":[{"type":"interception_rules","rules":[{"phase":"x"}]}]})")
            .rfind("plugins[0].rules: rules[0].phase:", 0) == 0);
  PluginSettings base;
  base.usage_log_path = "/other";
  CHECK(error_of(R"({"plugins":[{"type":"usage_logger","path":"/tmp/u"}]})", base) ==
        "plugins[0].path: conflicts with the value given by flag or rpc");
  base.external_plugins.push_back({"a", {"x"}, {"gate"}, 1});
  CHECK(
      error_of(R"({"plugins":[{"type":"external","name":"a","command":["x"],"phases":["gate"]}]})",
               base) == "plugins[0].name: \"a\" is given twice");
}

TEST_CASE("plugin_config_refuses_secrets", "[plugin_config]") {
  CHECK(error_of(R"({"secrets":{"K":"v"},"plugins":[]})").find("secrets are not allowed") !=
        std::string::npos);
  CHECK(error_of(R"({"plugins":[{"type":"secret","name":"K"}]})").find("secrets are not allowed") !=
        std::string::npos);
  CHECK(error_of(R"({"plugins":[{"type":"usage_logger","path":"/a","secrets":[]}]})")
            .find("secrets are not allowed") != std::string::npos);
}

TEST_CASE("plugin_config_file_is_read_from_disk_and_bounded", "[plugin_config]") {
  char dir[] = "/tmp/plugin-config-test-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  std::string path = std::string(dir) + "/plugins.json";
  { std::ofstream(path) << R"({"plugins":[{"type":"usage_logger","path":"/tmp/u.jsonl"}]})"; }
  auto settings = load_plugin_config(path, {});
  REQUIRE(settings.ok());
  CHECK(settings->usage_log_path == "/tmp/u.jsonl");
  { std::ofstream(path) << std::string(kMaxPluginConfigBytes + 1, ' '); }
  auto big = load_plugin_config(path, {});
  REQUIRE_FALSE(big.ok());
  CHECK(big.error().message.find("larger than") != std::string::npos);
  auto missing = load_plugin_config(std::string(dir) + "/missing.json", {});
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.find("missing.json") != std::string::npos);
  std::filesystem::remove_all(dir);
}
