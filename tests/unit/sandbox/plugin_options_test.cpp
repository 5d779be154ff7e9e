#include <catch2/catch.hpp>

#include "sandbox/plugin_options.h"

using namespace matchlock;
using namespace matchlock::sandbox;

TEST_CASE("a model route names source host, models and an optional backend", "[sandbox][plugins]") {
  auto r = parse_model_route_spec("API.OpenAI.com/gpt-4o=llama3.1:8b@localhost:11434");
  REQUIRE(r.ok());
  CHECK(r->source_host == "api.openai.com");
  CHECK(r->source_model == "gpt-4o");
  CHECK(r->target_model == "llama3.1:8b");
  CHECK(r->backend_host == "localhost");
  CHECK(r->backend_port == 11434);
  auto no_backend = parse_model_route_spec("openrouter.ai/meta-llama/llama-3=qwen/qwen2.5");
  REQUIRE(no_backend.ok());
  CHECK(no_backend->source_model == "meta-llama/llama-3");
  CHECK(no_backend->target_model == "qwen/qwen2.5");
  CHECK(no_backend->backend_host.empty());
  CHECK(no_backend->backend_port == 0);
}

TEST_CASE("bad model routes name the flag", "[sandbox][plugins]") {
  for (const char* bad :
       {"", "api.openai.com", "api.openai.com/gpt-4o", "/gpt=x", "api.openai.com/=x",
        "api.openai.com/gpt=", "bad_host!/a=b", "h.com/a b=c"}) {
    auto r = parse_model_route_spec(bad);
    INFO(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.starts_with("--local-model-route"));
  }
}

TEST_CASE("an @ suffix that is not HOST:PORT stays part of the target model",
          "[sandbox][plugins]") {
  // Model names may hold '@' ("claude@2024"); such a route has no backend of its own, which
  // validate_plugin_options refuses unless --local-model-backend gives one.
  for (const char* spec : {"h.com/a=b@nohost", "h.com/a=b@h:0", "h.com/a=b@h:99999"}) {
    auto r = parse_model_route_spec(spec);
    INFO(spec);
    REQUIRE(r.ok());
    CHECK(r->backend_host.empty());
    CHECK(r->target_model.find('@') != std::string::npos);
  }
}

TEST_CASE("host:port accepts names, IPv4 and bracketed IPv6", "[sandbox][plugins]") {
  CHECK(parse_model_backend_spec("127.0.0.1:8080")->first == "127.0.0.1");
  CHECK(parse_model_backend_spec("[::1]:8080")->first == "::1");
  CHECK(parse_model_backend_spec("Model-Box:1")->first == "model-box");
  for (const char* bad : {"", "host", ":80", "host:", "host:x", "host:-1", "::1:80", "a b:1"}) {
    INFO(bad);
    auto r = parse_model_backend_spec(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.starts_with("--local-model-backend"));
  }
}

TEST_CASE("a budget is a finite number above zero", "[sandbox][plugins]") {
  CHECK(*parse_budget_usd("2.5", "--budget-limit-usd") == 2.5);
  for (const char* bad : {"", "0", "-1", "nan", "inf", "1e999", "3usd", "abc"}) {
    INFO(bad);
    CHECK_FALSE(parse_budget_usd(bad, "--budget-limit-usd").ok());
  }
}

TEST_CASE("plugin options cross-checks", "[sandbox][plugins]") {
  PluginOptions o;
  CHECK_FALSE(o.any());
  o.budget_limit_usd = 1;
  CHECK(o.any());
  CHECK(validate_plugin_options(o).error().message.starts_with("--budget-limit-usd needs"));
  o.usage_log_path = "/tmp/usage.jsonl";
  CHECK(validate_plugin_options(o).ok());
  o.model_routes.push_back(*parse_model_route_spec("a.com/m=n"));
  CHECK(validate_plugin_options(o).error().message.find("no backend") != std::string::npos);
  o.local_model_backend = "127.0.0.1:11434";
  CHECK(validate_plugin_options(o).ok());
}

TEST_CASE("labels are short and plain", "[sandbox][plugins]") {
  CHECK(validate_label("claude-code_1.0:run", "--agent-system").ok());
  CHECK_FALSE(validate_label("", "--run-id").ok());
  CHECK_FALSE(validate_label("a b", "--run-id").ok());
  CHECK_FALSE(validate_label("x\n", "--run-id").ok());
  CHECK_FALSE(validate_label(std::string(129, 'a'), "--run-id").ok());
}
