// rpc set_timeout: parameter validation and the sandbox lifetime it sets, against a fake VM.
#include <rapidjson/document.h>
#include <catch2/catch.hpp>

#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "rpc/server.h"
#include "rpc/set_timeout_params.h"

using namespace matchlock;
using namespace matchlock::rpc;

namespace {

Result<uint64_t> parse(const std::string& json) {
  rapidjson::Document d;
  d.Parse(json.c_str());
  REQUIRE_FALSE(d.HasParseError());
  return parse_set_timeout_params(&d);
}

struct Lines : Output {
  std::vector<std::string> lines;
  void write_line(std::string line, std::function<void(bool)> done) override {
    line.pop_back();
    lines.push_back(std::move(line));
    if (done) done(true);
  }
  void flush(std::function<void()> done) override { done(); }
};

struct LifetimeVm : VmPort {
  int closes = 0;
  std::vector<std::string> stop_reasons;
  std::string id() const override { return "vm-0123abcd"; }
  std::vector<std::string> entrypoint_command() const override { return {}; }
  std::shared_ptr<ExecPort> exec(const sandbox::ExecSpec&, sandbox::ExecEvents) override {
    return nullptr;
  }
  void close(uint64_t, std::function<void(Status)> done) override {
    ++closes;
    done(Status());
  }
  void set_stop_reason(const std::string& reason) override { stop_reasons.push_back(reason); }
  void set_on_terminated(std::function<void(const Error&)>) override {}
};

struct Harness {
  uv_loop_t loop{};
  std::shared_ptr<LifetimeVm> vm = std::make_shared<LifetimeVm>();
  std::shared_ptr<Lines> out = std::make_shared<Lines>();
  std::shared_ptr<Session> s;
  bool done = false;
  Harness() {
    uv_loop_init(&loop);
    s = Session::create(&loop, out, [this](sandbox::SandboxOptions, VmCreateCallback cb) {
      cb(std::shared_ptr<VmPort>(vm));
    });
    s->set_on_done([this] { done = true; });
  }
  ~Harness() {
    s.reset();
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
  }
  void send(const std::string& line) { s->handle_input(line + "\n"); }
  void create() {
    send(R"({"jsonrpc":"2.0","method":"create","params":{"image":"alpine:latest"},"id":1})");
    REQUIRE(s->host()->ready());
  }
  const std::string& last() const { return out->lines.back(); }
};

}  // namespace

TEST_CASE("set_timeout params: a non-negative integer within bounds", "[rpc][set_timeout]") {
  CHECK(*parse(R"({"timeout_seconds":0})") == 0);
  CHECK(*parse(R"({"timeout_seconds":60})") == 60);
  CHECK(*parse(R"({"timeout_seconds":3153600000})") == SandboxHost::kMaxTimeoutSeconds);
  for (const char* bad :
       {R"({})", R"({"timeout_seconds":null})", R"({"timeout_seconds":-1})",
        R"({"timeout_seconds":1.5})", R"({"timeout_seconds":"60"})", R"({"timeout_seconds":true})",
        R"({"timeout_seconds":3153600001})", R"({"timeout_seconds":18446744073709551615})",
        R"({"timeout_seconds":1e300})", R"({"timeout_seconds":-9223372036854775809})"}) {
    INFO(bad);
    auto r = parse(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kInvalidArgument);
    CHECK(r.error().message.find("timeout_seconds") != std::string::npos);
  }
  CHECK_FALSE(parse_set_timeout_params(nullptr).ok());
}

TEST_CASE("set_timeout over rpc: needs a VM, answers the deadline, 0 clears",
          "[rpc][set_timeout]") {
  Harness h;
  h.send(R"({"jsonrpc":"2.0","method":"set_timeout","params":{"timeout_seconds":5},"id":2})");
  CHECK(h.last() ==
        R"({"jsonrpc":"2.0","error":{"code":-32000,"message":"VM not created"},"id":2})");
  h.create();
  h.send(R"({"jsonrpc":"2.0","method":"set_timeout","params":{"timeout_seconds":-3},"id":3})");
  CHECK(h.last().find(R"("code":-32602,"message":"invalid timeout_seconds)") != std::string::npos);
  h.send(R"({"jsonrpc":"2.0","method":"set_timeout","params":{"timeout_seconds":3600},"id":4})");
  const std::regex deadline(
      R"re(\{"jsonrpc":"2.0","result":\{"expires_at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"\},"id":4\})re");
  CHECK(std::regex_match(h.last(), deadline));
  h.send(R"({"jsonrpc":"2.0","method":"set_timeout","params":{"timeout_seconds":0},"id":5})");
  CHECK(h.last() == R"({"jsonrpc":"2.0","result":{"expires_at":null},"id":5})");
  // Cleared: nothing is pending, so the loop has nothing left to wait for.
  CHECK(uv_run(&h.loop, UV_RUN_NOWAIT) == 0);
  CHECK(h.vm->closes == 0);
}

TEST_CASE("set_timeout: at the deadline the sandbox closes, saying why", "[rpc][set_timeout]") {
  Harness h;
  h.create();
  std::string told;
  h.s->host()->set_on_timed_out([&](const std::string& reason) { told = reason; });
  h.send(R"({"jsonrpc":"2.0","method":"set_timeout","params":{"timeout_seconds":1},"id":2})");
  uv_run(&h.loop, UV_RUN_DEFAULT);  // ends once the lifetime's timer has fired and closed
  CHECK(told == "timed out after 1 s");
  CHECK(h.vm->closes == 1);
  CHECK(h.vm->stop_reasons == std::vector<std::string>{"timed out after 1 s"});
  CHECK(h.s->host()->state() == SandboxState::kClosed);
  CHECK(h.done);  // the owner session ends with its sandbox
}

TEST_CASE("set_timeout: the reason is recorded even when the owner closes first",
          "[rpc][set_timeout]") {
  Harness h;
  h.create();
  auto host = h.s->host();
  // As `run` does: told of the timeout, it starts its own close at once.
  host->set_on_timed_out([host](const std::string&) { host->close(0, false, {}); });
  REQUIRE(host->set_timeout(1));
  uv_run(&h.loop, UV_RUN_DEFAULT);
  CHECK(h.vm->closes == 1);
  CHECK(h.vm->stop_reasons == std::vector<std::string>{"timed out after 1 s"});
}
