#include "net/policy/plugins/interception_rules.h"

#include <catch2/catch.hpp>

#include "net/policy/body_replacement.h"
#include "net/policy/plugin_registry.h"
#include "net/policy/request_target.h"

using namespace matchlock;
using namespace matchlock::net::policy;

namespace {

Request get(const std::string& host, const std::string& target, const std::string& method = "GET") {
  Request r;
  r.protocol = Protocol::kHttp;
  r.host = host;
  r.method = method;
  r.target = target;
  r.headers = {{"Host", host}, {"Cookie", "a=1"}, {"Accept", "*/*"}};
  return r;
}

InterceptionRules rules_from(const std::string& json) {
  auto rules = parse_interception_rules(json);
  REQUIRE(rules.ok());
  return InterceptionRules(std::move(*rules), nullptr);
}

std::string error_of(const std::string& json) {
  auto rules = parse_interception_rules(json);
  REQUIRE_FALSE(rules.ok());
  return rules.error().message;
}

std::string pump(BodyFilter& filter, std::string_view body, size_t step) {
  std::string out;
  for (size_t i = 0; i < body.size(); i += step) out += filter.on_data(body.substr(i, step));
  return out + filter.on_end();
}

}  // namespace

TEST_CASE("path_glob_follows_path_match", "[interception_rules]") {
  CHECK(path_glob_matches("/v1/*", "/v1/models"));
  CHECK_FALSE(path_glob_matches("/v1/*", "/v1/models/x"));
  CHECK_FALSE(path_glob_matches("/v1/*", "/v2/models"));
  CHECK(path_glob_matches("/v?/models", "/v1/models"));
  CHECK(path_glob_matches("/v[0-9]/*", "/v7/a"));
  CHECK_FALSE(path_glob_matches("/v[^0-9]/*", "/v7/a"));
  CHECK(path_glob_matches("/a\\*b", "/a*b"));
  CHECK(path_glob_matches("*", "x"));
  CHECK_FALSE(path_glob_matches("*", "/x"));
  CHECK_FALSE(validate_path_glob("/v[0-9").ok());
  CHECK_FALSE(validate_path_glob("/v\\").ok());
}

// The path is the guest's: matching it runs on the engine's loop. Trying every split for every
// star took path^stars steps ("*-*-*-*-x" against 8 KiB of dashes would not end); the greedy
// matcher takes pattern x path.
TEST_CASE("path_glob_cost_does_not_grow_with_the_stars", "[interception_rules]") {
  const std::string dashes(8000, '-');
  CHECK_FALSE(path_glob_matches("/v1/*-*-*-*-*-*-x", "/v1/" + dashes));
  CHECK(path_glob_matches("/v1/*-*-*-*-*-*-x", "/v1/" + dashes + "x"));
  CHECK_FALSE(path_glob_matches("/v1/*-*-*-*-*-*-x/y", "/v1/" + dashes + "x/z"));
  CHECK(path_glob_matches("/*/*a*b/*", "/q/xxaxxb/r"));
  CHECK_FALSE(path_glob_matches("/*/*a*b/*", "/q/xxaxxb/r/s"));
  CHECK(path_glob_matches("/a*", "/a"));
  CHECK(path_glob_matches("/a**", "/abc"));
  CHECK_FALSE(path_glob_matches("/a*", "/ab/c"));
  CHECK(path_glob_matches("*/*", "x/y"));
  CHECK(path_glob_matches("/[!x]?*c", "/abc"));
  CHECK_FALSE(path_glob_matches("/a?c", "/a/c"));
  CHECK(path_glob_matches("/a\\", "/a\\"));  // a trailing escape is itself
}

TEST_CASE("request_target_edits_keep_untouched_parameters_verbatim", "[interception_rules]") {
  RequestTarget target = RequestTarget::parse("/p?a=1&b=x%2By&a=2&flag");
  CHECK(target.path == "/p");
  REQUIRE(target.first("b"));
  CHECK(target.first("b")->value == "x+y");
  target.set("a", "new value");
  target.erase("flag");
  target.set("c", "&=");
  CHECK(target.to_string() == "/p?a=new%20value&b=x%2By&c=%26%3D");
  CHECK(RequestTarget::parse("/only").to_string() == "/only");
}

TEST_CASE("interception_rules_block_and_mutate_requests_in_list_order", "[interception_rules]") {
  auto plugin = rules_from(R"([
    {"name":"strip","hosts":["api.example.com"],"methods":["get"],"path":"/v1/*",
     "set_headers":{"x-trace-id":"abc"},"delete_headers":["cookie"],
     "set_query":{"limit":"5"},"delete_query":["debug"],"rewrite_path":"/v2/models"},
    {"name":"deny-admin","path":"/admin/*","action":"BLOCK"},
    {"name":"noop","action":"allow"}
  ])");
  SECTION("mutations") {
    Request request = get("api.example.com", "/v1/models?debug=1&x=y");
    CHECK(std::holds_alternative<Continue>(plugin.transform_request(request)));
    CHECK(request.target == "/v2/models?x=y&limit=5");
    CHECK(find_header(request.headers, "cookie") == nullptr);
    REQUIRE(find_header(request.headers, "x-trace-id") != nullptr);
    CHECK(find_header(request.headers, "x-trace-id")->name == "X-Trace-Id");
  }
  SECTION("no match: untouched") {
    Request request = get("api.example.com", "/v1/models", "POST");
    Request before = request;
    plugin.transform_request(request);
    CHECK(request.target == before.target);
    CHECK(request.headers.size() == before.headers.size());
    Request other = get("other.example.com", "/v1/models");
    plugin.transform_request(other);
    CHECK(other.target == "/v1/models");
  }
  SECTION("block answers 403") {
    Request request = get("any.host", "/admin/users");
    TransformResult result = plugin.transform_request(request);
    REQUIRE(std::holds_alternative<Deny>(result));
    CHECK(std::get<Deny>(result).status == 403);
    CHECK(std::get<Deny>(result).reason.find("deny-admin") != std::string::npos);
  }
}

TEST_CASE("interception_after_rules_change_responses_and_bodies", "[interception_rules]") {
  auto plugin = rules_from(R"([
    {"phase":"After","hosts":["*.example.com"],"set_response_headers":{"x-b":"2"},
     "delete_response_headers":["Server"],
     "body_replacements":[{"find":"foo","replace":"bar"},{"find":"bar bar","replace":"X"}]},
    {"phase":"after","path":"/secret","action":"block"},
    {"phase":"before","set_response_headers":{"x-ignored":"1"}}
  ])");
  Request request = get("api.example.com", "/x");
  Response response;
  response.status = 200;
  response.headers = {{"Server", "nginx"}, {"Content-Type", "application/json"}};
  CHECK(std::holds_alternative<Continue>(plugin.transform_response(request, response)));
  CHECK(find_header(response.headers, "server") == nullptr);
  REQUIRE(find_header(response.headers, "x-b"));
  CHECK(find_header(response.headers, "X-B")->name == "X-B");
  CHECK(find_header(response.headers, "x-ignored") == nullptr);

  auto filter = plugin.response_body_filter(request, response);
  REQUIRE(filter);
  CHECK(filter->needs_whole_body());
  CHECK(pump(*filter, "foo foo and fo", 2) == "X and fo");

  Request secret = get("api.example.com", "/secret");
  TransformResult blocked = plugin.transform_response(secret, response);
  REQUIRE(std::holds_alternative<Deny>(blocked));
  CHECK(std::get<Deny>(blocked).status == 403);

  CHECK_FALSE(plugin.response_body_filter(get("example.org", "/x"), response));
}

TEST_CASE("interception_body_replacements_stream_per_sse_data_line", "[interception_rules]") {
  ReplacementFilter filter({{"secret", "[redacted]"}}, true);
  CHECK_FALSE(filter.needs_whole_body());
  std::string body = "event: secret\ndata: {\"t\":\"a secret here\"}\r\n\ndata: secr";
  std::string out = filter.on_data(body);
  // The complete lines came out at once; the partial one is held back.
  CHECK(out == "event: secret\ndata: {\"t\":\"a [redacted] here\"}\r\n\n");
  out = filter.on_data("et\n");
  CHECK(out == "data: [redacted]\n");
  CHECK(filter.on_end().empty());

  std::string huge = "data: " + std::string(ReplacementFilter::kMaxSseLineBytes + 10, 'x');
  for (size_t step : {size_t{4096}, size_t{1000}, huge.size() + 3}) {
    ReplacementFilter long_line({{"x", "y"}}, true);
    std::string passed = pump(long_line, huge + "\ndata: x\n", step);
    INFO(step);
    CHECK(passed.size() == huge.size() + 9);
    CHECK((passed.compare(0, huge.size(), huge) == 0));  // untouched
    CHECK(passed.substr(huge.size()) == "\ndata: y\n");
  }
  CHECK(apply_replacements("aaa", {{"a", "aa"}}) == "aaaaaa");
  CHECK(is_event_stream("Text/Event-Stream; charset=utf-8"));
  CHECK_FALSE(is_event_stream("text/event-streamer"));
}

TEST_CASE("interception_rule_validation_names_the_rule_and_field", "[interception_rules]") {
  CHECK(error_of("{}") == "rules: must be an array");
  CHECK(error_of("[") == "rules: not valid JSON");
  CHECK(error_of(R"([{}, {"phase":"during"}])").rfind("rules[1].phase:", 0) == 0);
  CHECK(error_of(R"([{"action":"explode"}])").rfind("rules[0].action:", 0) == 0);
  CHECK(error_of(R"([{"methods":["GET", 3]}])").rfind("rules[0].methods[1]:", 0) == 0);
  CHECK(error_of(R"([{"hosts":["bad host"]}])").rfind("rules[0].hosts:", 0) == 0);
  CHECK(error_of(R"([{"path":"/v[1"}])").rfind("rules[0].path:", 0) == 0);
  CHECK(error_of(R"([{"timeout_ms":-1}])").rfind("rules[0].timeout_ms:", 0) == 0);
  CHECK(error_of(R"([{"set_headers":{"bad name":"v"}}])").rfind("rules[0].set_headers:", 0) == 0);
  CHECK(error_of(R"([{"set_headers":{"X":"a\r\nb"}}])").rfind("rules[0].set_headers.X:", 0) == 0);
  CHECK(error_of(R"([{"rewrite_path":"relative"}])").rfind("rules[0].rewrite_path:", 0) == 0);
  CHECK(error_of(R"([{"body_replacements":[{"find":""}]}])")
            .rfind("rules[0].body_replacements[0].find:", 0) == 0);
  CHECK(error_of(R"([{"body_replacements":[3]}])").rfind("rules[0].body_replacements[0]:", 0) == 0);
  CHECK(error_of(R"([7])") == "rules[0]: must be an object");
}

TEST_CASE("interception_rules_drop_no_effect_rules_and_infer_mutate", "[interception_rules]") {
  auto rules = parse_interception_rules(R"([
    {"name":"a"}, {"name":"b","action":"allow","callback_id":"network_hook_2"},
    {"name":"c","set_headers":{"X":"1"}}, {"name":"d","phase":"after","set_headers":{"X":"1"}}
  ])");
  REQUIRE(rules.ok());
  REQUIRE(rules->size() == 2);
  CHECK((*rules)[0].name == "b");
  CHECK((*rules)[0].index == 1);
  CHECK((*rules)[1].name == "c");
  CHECK((*rules)[1].action == RuleAction::kMutate);
  CHECK(parse_interception_rules("").ok());
  CHECK(parse_interception_rules("  ")->empty());
}

TEST_CASE("interception_rules_are_registered_before_secret_injection", "[interception_rules]") {
  std::vector<std::string> names;
  for (const auto& registration : builtin_plugins()) names.emplace_back(registration.name);
  auto at = [&](const std::string& n) {
    return std::find(names.begin(), names.end(), n) - names.begin();
  };
  CHECK(names.front() == "host_filter");
  CHECK(at("interception_rules") < at("secret_injector"));
  CHECK(at("local_model_router") < at("secret_injector"));
  CHECK(at("usage_logger") < at("interception_rules"));

  PolicyConfig config;
  config.settings.interception_rules_json = R"([{"phase":"sideways"}])";
  auto made = make_pipeline(config, nullptr);
  REQUIRE_FALSE(made.ok());
  CHECK(made.error().message ==
        "interception_rules: rules[0].phase: must be \"before\" or "
        "\"after\", not \"sideways\"");
}
