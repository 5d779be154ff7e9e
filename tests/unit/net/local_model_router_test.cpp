#include "net/policy/plugins/local_model_router.h"

#include <rapidjson/document.h>
#include <catch2/catch.hpp>

#include "net/policy/plugin_registry.h"

using namespace matchlock;
using namespace matchlock::net::policy;

namespace {

Request post(const std::string& host, const std::string& method = "POST") {
  Request r;
  r.protocol = Protocol::kHttp;
  r.host = host;
  r.port = 443;
  r.tls = true;
  r.method = method;
  r.target = "/v1/chat/completions";
  return r;
}

std::unique_ptr<LocalModelRouter> router(std::vector<std::string> specs,
                                         const std::string& backend = "127.0.0.1:11434") {
  std::vector<ModelRoute> routes;
  for (const auto& spec : specs) {
    auto route = parse_model_route(spec);
    REQUIRE(route.ok());
    routes.push_back(*route);
  }
  auto made = LocalModelRouter::create(routes, backend);
  REQUIRE(made.ok());
  return std::move(*made);
}

// Routes a copy of `request` (most tests only look at the decision and the body).
RouteResult route_copy(LocalModelRouter& plugin, Request request, std::string& body) {
  return plugin.route_by_body(request, body);
}

}  // namespace

TEST_CASE("model_route_spec_splits_host_at_first_slash_and_keeps_slashes_in_models",
          "[local_model_router]") {
  auto route = parse_model_route("OpenRouter.ai/meta-llama/llama-3-8b=llama3:8b@127.0.0.1:8080");
  REQUIRE(route.ok());
  CHECK(route->source_host == "openrouter.ai");
  CHECK(route->source_model == "meta-llama/llama-3-8b");
  CHECK(route->target_model == "llama3:8b");
  CHECK(route->backend_host == "127.0.0.1");
  CHECK(route->backend_port == 8080);

  auto plain = parse_model_route("api.openai.com/gpt-4o=qwen/qwen2.5");
  REQUIRE(plain.ok());
  CHECK(plain->target_model == "qwen/qwen2.5");
  CHECK(plain->backend_host.empty());

  // An '@' not followed by HOST:PORT belongs to the model name.
  auto at = parse_model_route("api.anthropic.com/claude@2024=local@v2");
  REQUIRE(at.ok());
  CHECK(at->source_model == "claude@2024");
  CHECK(at->target_model == "local@v2");

  auto v6 = parse_model_route("api.openai.com/a=b@[::1]:9000");
  REQUIRE(v6.ok());
  CHECK(v6->backend_host == "::1");
}

TEST_CASE("model_route_spec_errors_name_the_flag_on_one_line", "[local_model_router]") {
  for (const char* bad :
       {"no-slash", "api.openai.com/missing-equals", "/m=t", "bad host!/m=t", "api.openai.com/=t",
        "api.openai.com/m=", "api.openai.com/m=@127.0.0.1:80"}) {
    auto route = parse_model_route(bad);
    INFO(bad);
    REQUIRE_FALSE(route.ok());
    CHECK(route.error().message.rfind("--local-model-route", 0) == 0);
    CHECK(route.error().message.find('\n') == std::string::npos);
  }
  for (const char* bad :
       {"localhost", "localhost:0", "localhost:70000", ":80", "a b:80", "host:12x"}) {
    auto backend = parse_model_backend(bad);
    INFO(bad);
    REQUIRE_FALSE(backend.ok());
    CHECK(backend.error().message.rfind("--local-model-backend", 0) == 0);
  }
  auto ok = parse_model_backend("LocalHost:11434");
  REQUIRE(ok.ok());
  CHECK(ok->host == "localhost");
  CHECK(ok->port == 11434);
}

TEST_CASE("model_router_routes_matching_model_and_rewrites_only_the_model",
          "[local_model_router]") {
  auto plugin = router({"api.openai.com/gpt-4o=llama3:8b"});
  Request request = post("api.openai.com");
  REQUIRE(plugin->wants_request_body(request));
  std::string body =
      R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi \u00e9"}],"temperature":0.7,"stream":true})";
  RouteResult result = plugin->route_by_body(request, body);
  auto* route = std::get_if<RouteTo>(&result);
  REQUIRE(route != nullptr);
  CHECK(route->host == "127.0.0.1");
  CHECK(route->port == 11434);
  CHECK_FALSE(route->tls);
  rapidjson::Document doc;
  doc.Parse(body.c_str());
  REQUIRE_FALSE(doc.HasParseError());
  CHECK(std::string(doc["model"].GetString()) == "llama3:8b");
  CHECK(doc["messages"][0]["content"].GetString() == std::string("hi \xC3\xA9"));
  CHECK(doc["temperature"].GetDouble() == 0.7);
  CHECK(doc["stream"].GetBool());
  // Member order is kept: "model" still comes first.
  CHECK(body.rfind(R"({"model":"llama3:8b","messages")", 0) == 0);
}

// Found by fuzz/rpc_request: RapidJSON reads a number too large for a double as infinity, and
// its writer stopped there, mid-body. Numbers now pass through as written.
TEST_CASE("model_router_keeps_every_number_as_the_guest_wrote_it", "[local_model_router]") {
  auto plugin = router({"api.openai.com/gpt-4o=llama3:8b"});
  std::string body =
      R"({"model":"gpt-4o","max_tokens":1644478407370955161E300,"top_p":0.30000000000000004,)"
      R"("seed":18446744073709551615,"n":[1e-400,-0.0],"o":{"model":"inner"}})";
  REQUIRE(std::holds_alternative<RouteTo>(route_copy(*plugin, post("api.openai.com"), body)));
  CHECK(body ==
        R"({"model":"llama3:8b","max_tokens":1644478407370955161E300,"top_p":0.30000000000000004,)"
        R"("seed":18446744073709551615,"n":[1e-400,-0.0],"o":{"model":"inner"}})");
}

TEST_CASE("model_router_leaves_other_models_bodies_and_hosts_alone", "[local_model_router]") {
  auto plugin = router({"api.openai.com/gpt-4o=llama3:8b@10.0.0.5:8000"});
  SECTION("another model") {
    std::string body = R"({"model":"gpt-4o-mini"})";
    CHECK(std::holds_alternative<Continue>(route_copy(*plugin, post("api.openai.com"), body)));
    CHECK(body == R"({"model":"gpt-4o-mini"})");
  }
  SECTION("invalid JSON passes through untouched") {
    std::string body = R"({"model":"gpt-4o",)";
    CHECK(std::holds_alternative<Continue>(route_copy(*plugin, post("api.openai.com"), body)));
    CHECK(body == R"({"model":"gpt-4o",)");
  }
  SECTION("not an object, or model not a string") {
    for (std::string body :
         {std::string(R"(["gpt-4o"])"), std::string(R"({"model":4})"), std::string("")}) {
      std::string before = body;
      CHECK(std::holds_alternative<Continue>(route_copy(*plugin, post("api.openai.com"), body)));
      CHECK(body == before);
    }
  }
  SECTION("another host, or not a POST: the body is not even wanted") {
    CHECK_FALSE(plugin->wants_request_body(post("api.anthropic.com")));
    CHECK_FALSE(plugin->wants_request_body(post("api.openai.com", "GET")));
    std::string body = R"({"model":"gpt-4o"})";
    CHECK(std::holds_alternative<Continue>(route_copy(*plugin, post("evil.com"), body)));
  }
  SECTION("the route's own backend wins over the default") {
    std::string body = R"({"model":"gpt-4o"})";
    RouteResult result = route_copy(*plugin, post("api.openai.com"), body);
    REQUIRE(std::holds_alternative<RouteTo>(result));
    CHECK(std::get<RouteTo>(result).host == "10.0.0.5");
    CHECK(std::get<RouteTo>(result).port == 8000);
  }
}

TEST_CASE("model_router_needs_a_backend_and_unique_routes", "[local_model_router]") {
  auto route = parse_model_route("api.openai.com/gpt-4o=llama3");
  REQUIRE(route.ok());
  auto none = LocalModelRouter::create({*route}, "");
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().message.find("--local-model-backend") != std::string::npos);
  auto twice = LocalModelRouter::create({*route, *route}, "127.0.0.1:1");
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.error().message.find("twice") != std::string::npos);
  auto bad_default = LocalModelRouter::create({*route}, "nope");
  REQUIRE_FALSE(bad_default.ok());
}

TEST_CASE("pipeline_body_route_reports_a_route_decision", "[local_model_router][pipeline]") {
  struct Sink : EventSink {
    std::vector<PolicyEvent> decisions;
    void on_decision(const PolicyEvent& e) override { decisions.push_back(e); }
  } sink;
  PolicyConfig config;
  config.settings.local_model_backend = "127.0.0.1:11434";
  config.settings.model_routes = {*parse_model_route("api.openai.com/gpt-4o=llama3")};
  auto pipeline = make_pipeline(config, &sink);
  REQUIRE(pipeline.ok());
  Request request = post("api.openai.com");
  CHECK_FALSE(pipeline->evaluate_route(request));  // nothing is decided from the head
  REQUIRE(pipeline->wants_request_body(request));
  std::string body = R"({"model":"gpt-4o"})";
  CHECK(pipeline->apply_request_body_transforms(request, body).allowed);
  auto route = pipeline->evaluate_body_route(request, body);
  REQUIRE(route);
  CHECK(route->port == 11434);
  REQUIRE(sink.decisions.size() == 1);
  CHECK(sink.decisions[0].phase == "route");
  CHECK(sink.decisions[0].plugin == "local_model_router");
  CHECK(sink.decisions[0].reason.find("llama3") != std::string::npos);
}

TEST_CASE("model_router_leaves_injected_secret_values_behind", "[local_model_router]") {
  const std::string value = "sk-live-REAL value";
  const std::string placeholder = "SANDBOX_SECRET_0123456789abcdef0123456789abcdef";
  auto route = parse_model_route("api.openai.com/gpt-4o=llama3");
  REQUIRE(route.ok());
  auto made = LocalModelRouter::create(
      {*route}, "127.0.0.1:11434",
      SecretRedactor({{"OPENAI_API_KEY", value, placeholder, {"api.openai.com"}}}));
  REQUIRE(made.ok());
  Request request = post("api.openai.com");
  request.headers = {{"Authorization", "Bearer " + value}};
  request.target = "/v1/chat/completions?key=" + encode_secret_for_target(value);
  SECTION("routed: the backend gets placeholders") {
    std::string body = R"({"model":"gpt-4o"})";
    REQUIRE(std::holds_alternative<RouteTo>((*made)->route_by_body(request, body)));
    CHECK(request.headers[0].value == "Bearer " + placeholder);
    CHECK(request.target == "/v1/chat/completions?key=" + placeholder);
  }
  SECTION("not routed: the request keeps its values for its own host") {
    std::string body = R"({"model":"gpt-4o-mini"})";
    REQUIRE(std::holds_alternative<Continue>((*made)->route_by_body(request, body)));
    CHECK(request.headers[0].value == "Bearer " + value);
  }
}
