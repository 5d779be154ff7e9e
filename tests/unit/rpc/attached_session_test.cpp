// Control-socket sessions attached to one SandboxHost next to the owner's session: what one
// client does (garbage, leaving, create) never reaches another; a close stops it for all.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "rpc/server.h"

using namespace matchlock;
using namespace matchlock::rpc;

namespace {

struct Lines : Output {
  std::vector<std::string> lines;
  void write_line(std::string line, std::function<void(bool)> done) override {
    line.pop_back();
    lines.push_back(std::move(line));
    if (done) done(true);
  }
  void flush(std::function<void()> done) override { done(); }
  const std::string& last() const { return lines.back(); }
};

struct Exec : ExecPort {
  int cancels = 0;
  void write_stdin(std::string) override {}
  void close_stdin() override {}
  void resize(uint16_t, uint16_t) override {}
  void cancel(uint32_t) override { ++cancels; }
  size_t stdin_backlog() const override { return 0; }
  void set_on_stdin_drained(std::function<void()>) override {}
};

struct Vm : VmPort {
  std::vector<std::pair<sandbox::ExecEvents, std::shared_ptr<Exec>>> execs;
  int closes = 0;
  std::string id() const override { return "vm-0123abcd"; }
  std::vector<std::string> entrypoint_command() const override { return {}; }
  std::shared_ptr<ExecPort> exec(const sandbox::ExecSpec&, sandbox::ExecEvents ev) override {
    execs.emplace_back(std::move(ev), std::make_shared<Exec>());
    return execs.back().second;
  }
  void close(uint64_t, std::function<void(Status)> done) override {
    ++closes;
    for (auto& [ev, e] : execs) {
      if (auto fn = std::move(ev.on_error)) fn(Error(ErrorCode::kCancelled, "closed"), -1);
    }
    done(Status());
  }
  void set_on_terminated(std::function<void(const Error&)>) override {}
};

struct Harness {
  uv_loop_t loop{};
  std::shared_ptr<Vm> vm = std::make_shared<Vm>();
  std::shared_ptr<Lines> owner_out = std::make_shared<Lines>();
  std::shared_ptr<Session> owner;
  bool owner_done = false;

  Harness() {
    uv_loop_init(&loop);
    owner = Session::create(&loop, owner_out, [this](sandbox::SandboxOptions, VmCreateCallback cb) {
      cb(std::shared_ptr<VmPort>(vm));
    });
    owner->set_on_done([this] { owner_done = true; });
    owner->handle_input(
        R"({"jsonrpc":"2.0","method":"create","params":{"image":"alpine:latest"},"id":1})"
        "\n");
    REQUIRE(owner->host()->ready());
  }
  ~Harness() {
    owner.reset();
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
  }
  std::pair<std::shared_ptr<Session>, std::shared_ptr<Lines>> attach() {
    auto out = std::make_shared<Lines>();
    return {Session::open(&loop, out, owner->host(), SessionRole::kAttached), out};
  }
};

}  // namespace

TEST_CASE("attached_create_is_refused_with_the_sandbox_id", "[rpc][attached]") {
  Harness h;
  auto [c, out] = h.attach();
  c->handle_input(R"({"jsonrpc":"2.0","method":"create","params":{"image":"x"},"id":5})"
                  "\n");
  CHECK(
      out->last() ==
      R"({"jsonrpc":"2.0","error":{"code":-32000,"message":"sandbox vm-0123abcd already exists"},"id":5})");
}

TEST_CASE("attached_garbage_and_eof_only_cost_that_client", "[rpc][attached]") {
  Harness h;
  auto [a, a_out] = h.attach();
  auto [b, b_out] = h.attach();
  bool a_done = false;
  a->set_on_done([&] { a_done = true; });
  a->handle_input(R"({"jsonrpc":"2.0","method":"exec_stream","params":{"command":"x"},"id":2})"
                  "\n");
  b->handle_input(R"({"jsonrpc":"2.0","method":"exec_stream","params":{"command":"y"},"id":2})"
                  "\n");
  a->handle_input("{not json\n");
  CHECK(a_out->last() == R"({"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"}})");
  a->handle_input(std::string(LineFramer::kMaxLineBytes + 10, 'x') + "\n");
  CHECK(a_out->last().find("line too long") != std::string::npos);
  a->handle_eof();
  CHECK(a_done);
  REQUIRE(h.vm->execs.size() == 2);
  CHECK(h.vm->execs[0].second->cancels >= 1);  // a's exec is killed
  CHECK(h.vm->execs[1].second->cancels == 0);  // b's is not
  CHECK(h.vm->closes == 0);
  CHECK(h.owner->host()->ready());
  h.vm->execs[1].first.on_exit(0);
  CHECK(b_out->last().find(R"("exit_code":0)") != std::string::npos);
}

TEST_CASE("attached_close_stops_the_sandbox_for_everyone", "[rpc][attached]") {
  Harness h;
  auto [a, a_out] = h.attach();
  auto [b, b_out] = h.attach();
  bool a_done = false, b_done = false;
  a->set_on_done([&] { a_done = true; });
  b->set_on_done([&] { b_done = true; });
  b->handle_input(R"({"jsonrpc":"2.0","method":"exec","params":{"command":"sleep 9"},"id":3})"
                  "\n");
  a->handle_input(R"({"jsonrpc":"2.0","method":"close","params":{"timeout_seconds":1},"id":4})"
                  "\n");
  CHECK(h.vm->closes == 1);
  CHECK(a_out->last() == R"({"jsonrpc":"2.0","result":{},"id":4})");
  CHECK(b_out->last() ==
        R"({"jsonrpc":"2.0","error":{"code":-32003,"message":"context canceled"},"id":3})");
  CHECK((a_done && b_done));
  CHECK(h.owner_done);  // the owner (rpc) ends too: its sandbox is gone
}
