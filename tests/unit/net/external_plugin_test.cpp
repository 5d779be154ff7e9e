// The external plugin against a real child process: tests/fixtures/policy_plugin.py.
#include "net/policy/plugins/external_plugin.h"

#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "net/policy/plugin_registry.h"
#include "remote_plugin_test_util.h"

using namespace matchlock;
using namespace matchlock::net::policy;
using matchlock::net::policy::testing::TestLoop;
namespace fs = std::filesystem;

namespace {

const std::string kValue = "sk-live-REALVALUE-0123";
const std::string kPlaceholder = "SANDBOX_SECRET_0123456789abcdef0123456789abcdef";

struct IgnoreSigpipe {
  void (*old)(int) = ::signal(SIGPIPE, SIG_IGN);
  ~IgnoreSigpipe() { ::signal(SIGPIPE, old); }
};

struct TempDir {
  fs::path path;
  TempDir() {
    char dir[] = "/tmp/external-plugin-test-XXXXXX";
    REQUIRE(::mkdtemp(dir) != nullptr);
    path = dir;
  }
  ~TempDir() { fs::remove_all(path); }
  std::string read(const std::string& name) const {
    std::ifstream in(path / name);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
};

ExternalPluginSpec spec(const std::string& mode, std::vector<std::string> phases,
                        const std::string& log = "", uint32_t timeout_ms = 3000) {
  ExternalPluginSpec s;
  s.name = "audit";
  s.argv = {"python3", std::string(MATCHLOCK_TEST_FIXTURES_DIR) + "/policy_plugin.py", mode};
  if (!log.empty()) s.argv.push_back(log);
  s.phases = std::move(phases);
  s.timeout_ms = timeout_ms;
  return s;
}

std::unique_ptr<ExternalPlugin> start(TestLoop& loop, ExternalPluginSpec s) {
  auto made = ExternalPlugin::start(
      loop.get(), std::move(s),
      SecretRedactor({{"OPENAI_API_KEY", kValue, kPlaceholder, {"api.openai.com"}}}));
  REQUIRE(made.ok());
  return std::move(*made);
}

std::shared_ptr<Request> request_to(const std::string& host) {
  auto r = std::make_shared<Request>();
  r->protocol = Protocol::kHttp;
  r->host = host;
  r->port = 443;
  r->tls = true;
  r->method = "POST";
  r->target = "/v1/chat?key=" + kValue;
  r->headers = {{"Host", host}, {"Accept", "*/*"}, {"Authorization", "Bearer " + kValue}};
  return r;
}

// Asks before_request and waits for the answer.
TransformResult ask(TestLoop& loop, RemotePlugin& plugin, std::shared_ptr<Request> request) {
  std::optional<TransformResult> result;
  plugin.before_request(request, [&](TransformResult r) { result = r; });
  REQUIRE(loop.run_until([&] { return result.has_value(); }, 10000));
  return *result;
}

std::string deny_reason(const TransformResult& result) {
  REQUIRE(std::holds_alternative<Deny>(result));
  return std::get<Deny>(result).reason;
}

}  // namespace

TEST_CASE("external_plugin_mutates_requests_and_responses_and_never_sees_secret_values",
          "[external_plugin]") {
  IgnoreSigpipe sigpipe;
  TempDir dir;
  TestLoop loop;
  std::string log = (dir.path / "questions").string();
  auto plugin = start(loop, spec("mutate", {"gate", "request", "response"}, log));
  auto request = request_to("api.openai.com");
  CHECK(std::holds_alternative<Continue>(ask(loop, *plugin, request)));
  REQUIRE(find_header(request->headers, "x-plugin") != nullptr);
  CHECK(find_header(request->headers, "X-Plugin")->value == "yes");
  CHECK(find_header(request->headers, "accept") == nullptr);
  // The real value stays in the request: only what was sent was redacted.
  CHECK(find_header(request->headers, "authorization")->value == "Bearer " + kValue);

  auto response = std::make_shared<Response>();
  response->status = 200;
  std::optional<ResponseStep> step;
  plugin->after_response(request, response, [&](ResponseStep s) { step = std::move(s); });
  REQUIRE(loop.run_until([&] { return step.has_value(); }));
  CHECK_FALSE(step->deny);
  REQUIRE(find_header(response->headers, "x-seen") != nullptr);
  CHECK(find_header(response->headers, "x-seen")->value == "api.openai.com");

  std::string questions = dir.read("questions");
  CHECK(questions.find(kValue) == std::string::npos);
  CHECK(questions.find(kPlaceholder) != std::string::npos);
  CHECK(questions.find("\"phase\":\"gate\"") != std::string::npos);
  CHECK(questions.find("\"phase\":\"request\"") != std::string::npos);
  CHECK(questions.find("\"phase\":\"response\"") != std::string::npos);
  CHECK(questions.find("\"path\":\"/v1/chat\"") != std::string::npos);
}

TEST_CASE("external_plugin_gate_denial_carries_its_status_and_names_the_plugin",
          "[external_plugin]") {
  IgnoreSigpipe sigpipe;
  TestLoop loop;
  auto plugin = start(loop, spec("deny-gate", {"gate", "request"}));
  TransformResult result = ask(loop, *plugin, request_to("example.com"));
  REQUIRE(std::holds_alternative<Deny>(result));
  CHECK(std::get<Deny>(result).status == 451);
  CHECK(std::get<Deny>(result).reason == "external plugin audit denied the request: not today");
}

TEST_CASE("external_plugin_fails_closed_on_crash_garbage_and_bad_answers", "[external_plugin]") {
  IgnoreSigpipe sigpipe;
  TestLoop loop;
  SECTION("crash, then every later request") {
    auto plugin = start(loop, spec("crash", {"request"}));
    std::string reason = deny_reason(ask(loop, *plugin, request_to("example.com")));
    CHECK(reason.find("external plugin audit failed") == 0);
    CHECK((reason.find("exited with status 3") != std::string::npos ||
           reason.find("closed its stdout") != std::string::npos));
    std::string later = deny_reason(ask(loop, *plugin, request_to("example.com")));
    CHECK(later.find("is not running") != std::string::npos);
  }
  SECTION("garbage") {
    auto plugin = start(loop, spec("garbage", {"request"}));
    CHECK(deny_reason(ask(loop, *plugin, request_to("example.com"))).find("garbage") !=
          std::string::npos);
  }
  SECTION("an unknown action") {
    auto plugin = start(loop, spec("bad-action", {"request"}));
    CHECK(deny_reason(ask(loop, *plugin, request_to("example.com"))).find("unknown action") !=
          std::string::npos);
  }
  SECTION("mutate to a gate question") {
    auto plugin = start(loop, spec("always-mutate", {"gate"}));
    CHECK(deny_reason(ask(loop, *plugin, request_to("example.com"))).find("gate") !=
          std::string::npos);
  }
}

TEST_CASE("external_plugin_timeout_denies_and_a_late_answer_is_dropped", "[external_plugin]") {
  IgnoreSigpipe sigpipe;
  TestLoop loop;
  auto plugin = start(loop, spec("slow-first", {"request"}, "", 1000));
  CHECK(deny_reason(ask(loop, *plugin, request_to("example.com"))) ==
        "external plugin audit failed: it did not answer within 1000 ms");
  // The answer to the first question arrives while the second is awaited: ignored by id.
  CHECK(std::holds_alternative<Continue>(ask(loop, *plugin, request_to("example.com"))));
}

TEST_CASE("external_plugin_process_dies_with_the_plugin", "[external_plugin]") {
  IgnoreSigpipe sigpipe;
  TempDir dir;
  TestLoop loop;
  std::string log = (dir.path / "questions").string();
  auto plugin = start(loop, spec("allow", {"request"}, log));
  CHECK(std::holds_alternative<Continue>(ask(loop, *plugin, request_to("example.com"))));
  std::string text = dir.read("questions");
  REQUIRE(text.rfind("pid ", 0) == 0);
  pid_t pid = std::stoi(text.substr(4));
  REQUIRE(::kill(pid, 0) == 0);
  plugin.reset();
  loop.drain();
  CHECK(::kill(pid, 0) == -1);  // killed and reaped, no zombie
}

TEST_CASE("external_plugin_configuration_errors_name_the_plugin", "[external_plugin]") {
  TestLoop loop;
  auto missing = ExternalPlugin::start(loop.get(), spec("allow", {"request"}), {});
  REQUIRE(missing.ok());
  ExternalPluginSpec bad = spec("allow", {"request"});
  bad.argv = {"/nonexistent/plugin-binary"};
  auto not_started = ExternalPlugin::start(loop.get(), bad, {});
  REQUIRE_FALSE(not_started.ok());
  CHECK(not_started.error().message.rfind("external plugin audit: cannot start", 0) == 0);
  bad = spec("allow", {"sometimes"});
  CHECK_FALSE(ExternalPlugin::start(loop.get(), bad, {}).ok());
  bad = spec("allow", {"request"});
  bad.timeout_ms = 0;
  CHECK_FALSE(ExternalPlugin::start(loop.get(), bad, {}).ok());

  PolicyConfig config;
  config.settings.external_plugins = {spec("allow", {"request"})};
  auto no_loop = make_pipeline(config, nullptr);
  REQUIRE_FALSE(no_loop.ok());
  CHECK(no_loop.error().message.find("no event loop") != std::string::npos);
  config.loop = loop.get();
  auto pipeline = make_pipeline(config, nullptr);
  REQUIRE(pipeline.ok());
  REQUIRE(pipeline->remote_plugins().size() == 1);
  CHECK(pipeline->remote_plugins()[0]->name() == "audit");
}
