// The SDK callback plugin against a real unix socket server on a thread.
#include "net/policy/plugins/sdk_callback.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <rapidjson/document.h>
#include <atomic>
#include <catch2/catch.hpp>
#include <csignal>
#include <filesystem>
#include <mutex>
#include <thread>

#include "core/unique_fd.h"
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

// Plays the SDK: accepts connections, reads one line, answers what `answer` returns
// (nothing = close without answering) after `delay`.
class FakeSdk {
 public:
  using Answer = std::function<std::optional<std::string>(const std::string& line)>;

  explicit FakeSdk(Answer answer, std::chrono::milliseconds delay = {})
      : answer_(std::move(answer)), delay_(delay) {
    char dir[] = "/tmp/sdk-callback-test-XXXXXX";
    REQUIRE(::mkdtemp(dir) != nullptr);
    dir_ = dir;
    path_ = (dir_ / "hook.sock").string();
    listener_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path_.c_str());
    REQUIRE(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(listener_.get(), 8) == 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeSdk() {
    ::shutdown(listener_.get(), SHUT_RDWR);  // wakes accept()
    thread_.join();
    fs::remove_all(dir_);
  }
  const std::string& path() const { return path_; }
  std::vector<std::string> lines() {
    std::lock_guard lock(mutex_);
    return lines_;
  }

 private:
  void serve() {
    while (true) {
      UniqueFd connection(::accept(listener_.get(), nullptr, nullptr));
      if (!connection) return;
      std::string line;
      char c;
      while (::read(connection.get(), &c, 1) == 1 && c != '\n') line += c;
      {
        std::lock_guard lock(mutex_);
        lines_.push_back(line);
      }
      std::this_thread::sleep_for(delay_);
      if (auto answer = answer_(line)) {
        std::string out = *answer + "\n";
        (void)!::write(connection.get(), out.data(), out.size());
      }
    }
  }

  Answer answer_;
  std::chrono::milliseconds delay_;
  fs::path dir_;
  std::string path_;
  UniqueFd listener_;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> lines_;
};

std::vector<InterceptionRule> rules(const std::string& json) {
  auto parsed = parse_interception_rules(json);
  REQUIRE(parsed.ok());
  return std::move(*parsed);
}

const char* kBeforeRule =
    R"([{"phase":"before","hosts":["api.example.com"],"callback_id":"network_hook_1","timeout_ms":2000}])";
const char* kAfterRule = R"([{"phase":"after","callback_id":"network_hook_1","timeout_ms":2000}])";

std::unique_ptr<SdkCallback> plugin(TestLoop& loop, const std::string& socket,
                                    const std::string& json = kBeforeRule) {
  return std::make_unique<SdkCallback>(
      loop.get(), socket, rules(json),
      SecretRedactor({{"API_KEY", kValue, kPlaceholder, {"api.example.com"}}}));
}

std::shared_ptr<Request> request() {
  auto r = std::make_shared<Request>();
  r->protocol = Protocol::kHttp;
  r->host = "api.example.com";
  r->method = "GET";
  r->target = "/v1/models?limit=5&limit=6&key=" + kValue;
  r->headers = {
      {"Host", "api.example.com"}, {"accept", "*/*"}, {"Authorization", "Bearer " + kValue}};
  return r;
}

TransformResult ask(TestLoop& loop, SdkCallback& callback, std::shared_ptr<Request> r) {
  std::optional<TransformResult> result;
  callback.before_request(r, [&](TransformResult t) { result = t; });
  REQUIRE(loop.run_until([&] { return result.has_value(); }, 10000));
  return *result;
}

std::string deny_reason(const TransformResult& result) {
  REQUIRE(std::holds_alternative<Deny>(result));
  return std::get<Deny>(result).reason;
}

}  // namespace

TEST_CASE("sdk_callback_sends_the_wire_request_without_secret_values", "[sdk_callback]") {
  IgnoreSigpipe sigpipe;
  TestLoop loop;
  FakeSdk sdk([](const std::string&) { return R"({"action":"allow"})"; });
  auto callback = plugin(loop, sdk.path());
  CHECK(std::holds_alternative<Continue>(ask(loop, *callback, request())));
  auto lines = sdk.lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find(kValue) == std::string::npos);
  rapidjson::Document doc;
  doc.Parse(lines[0].c_str());
  REQUIRE_FALSE(doc.HasParseError());
  CHECK(std::string(doc["callback_id"].GetString()) == "network_hook_1");
  CHECK(std::string(doc["phase"].GetString()) == "before");
  CHECK(std::string(doc["host"].GetString()) == "api.example.com");
  CHECK(std::string(doc["method"].GetString()) == "GET");
  CHECK(std::string(doc["path"].GetString()) == "/v1/models");
  CHECK(std::string(doc["query"]["limit"].GetString()) == "5");
  CHECK(std::string(doc["query"]["key"].GetString()) == kPlaceholder);
  CHECK(std::string(doc["request_headers"]["Accept"][0].GetString()) == "*/*");
  CHECK(std::string(doc["request_headers"]["Authorization"][0].GetString()) ==
        "Bearer " + kPlaceholder);
  CHECK_FALSE(doc.HasMember("status_code"));
  CHECK_FALSE(doc.HasMember("is_sse"));
  CHECK_FALSE(doc["request_headers"].HasMember("Host"));
}

TEST_CASE("sdk_callback_applies_full_replacements_and_keeps_echoed_secrets", "[sdk_callback]") {
  IgnoreSigpipe sigpipe;
  TestLoop loop;
  // The SDK echoes Authorization (redacted) back, drops Accept, adds X-A; replaces the query.
  FakeSdk sdk([](const std::string&) {
    return R"({"action":"mutate","request":{"headers":{"authorization":["Bearer )" + kPlaceholder +
           R"("],"X-A":["1"]},"query":{"key":")" + kPlaceholder +
           R"(","q":"a b"},"path":"/v2/models"}})";
  });
  auto callback = plugin(loop, sdk.path());
  auto r = request();
  CHECK(std::holds_alternative<Continue>(ask(loop, *callback, r)));
  CHECK(find_header(r->headers, "host")->value == "api.example.com");
  CHECK(find_header(r->headers, "authorization")->value == "Bearer " + kValue);
  CHECK(find_header(r->headers, "x-a")->value == "1");
  CHECK(find_header(r->headers, "accept") == nullptr);
  CHECK(r->target == "/v2/models?key=" + kValue + "&q=a%20b");
}

TEST_CASE("sdk_callback_block_and_no_match", "[sdk_callback]") {
  IgnoreSigpipe sigpipe;
  TestLoop loop;
  FakeSdk sdk([](const std::string&) { return R"({"action":"block"})"; });
  auto callback = plugin(loop, sdk.path());
  TransformResult result = ask(loop, *callback, request());
  REQUIRE(std::holds_alternative<Deny>(result));
  CHECK(std::get<Deny>(result).status == 403);
  CHECK(std::get<Deny>(result).reason == "blocked by SDK callback network_hook_1");
  auto other = request();
  other->host = "other.example.com";
  CHECK(std::holds_alternative<Continue>(ask(loop, *callback, other)));
  CHECK(sdk.lines().size() == 1);  // the other host was never asked about
}

TEST_CASE("sdk_callback_fails_closed", "[sdk_callback]") {
  IgnoreSigpipe sigpipe;
  TestLoop loop;
  SECTION("an error answer") {
    FakeSdk sdk(
        [](const std::string&) { return R"({"error":"network hook callback not found"})"; });
    CHECK(deny_reason(ask(loop, *plugin(loop, sdk.path()), request())) ==
          "SDK callback network_hook_1: the SDK reported: network hook callback not found");
  }
  SECTION("garbage") {
    FakeSdk sdk([](const std::string&) { return "<html>"; });
    CHECK(deny_reason(ask(loop, *plugin(loop, sdk.path()), request())).find("not a JSON object") !=
          std::string::npos);
  }
  SECTION("a malformed mutation") {
    FakeSdk sdk([](const std::string&) { return R"({"request":{"headers":{"X":["a\r\nb"]}}})"; });
    CHECK(deny_reason(ask(loop, *plugin(loop, sdk.path()), request())).find("line break") !=
          std::string::npos);
  }
  SECTION("closed without answering") {
    FakeSdk sdk([](const std::string&) { return std::nullopt; });
    CHECK(deny_reason(ask(loop, *plugin(loop, sdk.path()), request())).find("without answering") !=
          std::string::npos);
  }
  SECTION("timeout") {
    FakeSdk sdk([](const std::string&) { return R"({"action":"allow"})"; },
                std::chrono::milliseconds(1500));
    auto callback =
        plugin(loop, sdk.path(), R"([{"callback_id":"network_hook_3","timeout_ms":200}])");
    CHECK(deny_reason(ask(loop, *callback, request())) ==
          "SDK callback network_hook_3 failed: no answer in time");
  }
  SECTION("nobody listening") {
    CHECK(deny_reason(ask(loop, *plugin(loop, "/nonexistent/hook.sock"), request()))
              .find("cannot connect") != std::string::npos);
  }
}

TEST_CASE("sdk_callback_after_phase_replaces_headers_and_body", "[sdk_callback]") {
  IgnoreSigpipe sigpipe;
  TestLoop loop;
  FakeSdk sdk([](const std::string&) {
    return std::string(
        R"({"action":"allow","response":{"headers":{"Content-Type":["application/json"],"X-B":["2"]},)"
        R"("set_body_base64":"eyJhIjoxfQ==","body_replacements":[{"find":"1","replace":"2"}]}})");
  });
  auto callback = plugin(loop, sdk.path(), kAfterRule);
  auto response = std::make_shared<Response>();
  response->status = 200;
  response->headers = {{"Content-Type", "text/event-stream"}, {"Server", "x"}};
  std::optional<ResponseStep> step;
  callback->after_response(request(), response, [&](ResponseStep s) { step = std::move(s); });
  REQUIRE(loop.run_until([&] { return step.has_value(); }));
  CHECK_FALSE(step->deny);
  CHECK(find_header(response->headers, "server") == nullptr);
  CHECK(find_header(response->headers, "x-b")->value == "2");
  REQUIRE(step->filter);
  CHECK(step->filter->needs_whole_body());
  std::string out = step->filter->on_data("original");
  out += step->filter->on_end();
  CHECK(out == R"({"a":2})");

  auto lines = sdk.lines();
  REQUIRE(lines.size() == 1);
  rapidjson::Document doc;
  doc.Parse(lines[0].c_str());
  CHECK(std::string(doc["phase"].GetString()) == "after");
  CHECK(doc["status_code"].GetInt() == 200);
  CHECK(doc["is_sse"].GetBool());
  CHECK(std::string(doc["response_headers"]["Server"][0].GetString()) == "x");
}

TEST_CASE("sdk_callback_needs_a_socket_for_callback_rules", "[sdk_callback]") {
  TestLoop loop;
  PolicyConfig config;
  config.loop = loop.get();
  config.settings.interception_rules_json = kBeforeRule;
  auto made = make_pipeline(config, nullptr);
  REQUIRE_FALSE(made.ok());
  CHECK(made.error().message.rfind("sdk_callback: ", 0) == 0);
  config.settings.callback_socket = "/tmp/x.sock";
  auto ok = make_pipeline(config, nullptr);
  REQUIRE(ok.ok());
  REQUIRE(ok->remote_plugins().size() == 1);
  CHECK(ok->remote_plugins()[0]->name() == "sdk_callback");
}
