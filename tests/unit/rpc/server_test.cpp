// The dispatcher driven through its byte interface with a fake VM: no QEMU involved.
#include <rapidjson/document.h>
#include <catch2/catch.hpp>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/base64.h"
#include "rpc/output_budget.h"
#include "rpc/server.h"

using namespace matchlock;
using namespace matchlock::rpc;

namespace {

class CaptureOutput : public Output {
 public:
  std::vector<std::string> lines;
  bool hold = false;  // simulate a slow client: completions wait for release()
  bool fail = false;
  std::deque<std::function<void(bool)>> held;

  void write_line(std::string line, std::function<void(bool)> done) override {
    lines.push_back(std::move(line));
    if (hold) {
      held.push_back(std::move(done));
    } else if (done) {
      done(!fail);
    }
  }
  void flush(std::function<void()> done) override { done(); }
  void release() {
    auto h = std::move(held);
    held.clear();
    for (auto& d : h) {
      if (d) d(true);
    }
  }
};

struct FakeExec : ExecPort {
  std::string stdin_data;
  bool stdin_closed = false;
  std::vector<std::pair<int, int>> resizes;
  int cancels = 0;
  size_t backlog = 0;
  std::function<void()> on_drained;
  void write_stdin(std::string bytes) override { stdin_data += bytes; }
  void close_stdin() override { stdin_closed = true; }
  void resize(uint16_t r, uint16_t c) override { resizes.emplace_back(r, c); }
  void cancel(uint32_t) override { ++cancels; }
  size_t stdin_backlog() const override { return backlog; }
  void set_on_stdin_drained(std::function<void()> fn) override { on_drained = std::move(fn); }
};

struct Launched {
  sandbox::ExecSpec spec;
  sandbox::ExecEvents events;
  std::shared_ptr<FakeExec> exec;
};

struct FakeVm : VmPort {
  std::vector<Launched> execs;
  std::vector<std::string> entrypoint;
  int closes = 0;
  uint64_t last_graceful_ms = 0;
  std::function<void(Status)> pending_close;
  bool close_async = false;
  std::function<void(Launched&)> on_exec;  // e.g. fail synchronously

  std::string id() const override { return "vm-0123abcd"; }
  std::vector<std::string> entrypoint_command() const override { return entrypoint; }
  std::shared_ptr<ExecPort> exec(const sandbox::ExecSpec& spec, sandbox::ExecEvents ev) override {
    execs.push_back({spec, std::move(ev), std::make_shared<FakeExec>()});
    if (on_exec) on_exec(execs.back());
    return execs.back().exec;
  }
  void close(uint64_t graceful_ms, std::function<void(Status)> done) override {
    ++closes;
    last_graceful_ms = graceful_ms;
    // Like the real sandbox: closing fails every running exec.
    for (auto& e : execs) {
      if (e.events.on_error) {
        auto ev = std::move(e.events.on_error);
        e.events = {};
        ev(Error(ErrorCode::kCancelled, "sandbox closed"), -1);
      }
    }
    if (close_async) {
      pending_close = std::move(done);
    } else {
      done(Status());
    }
  }
  void set_on_terminated(std::function<void(const Error&)>) override {}
};

struct Harness {
  uv_loop_t loop{};
  std::shared_ptr<CaptureOutput> out = std::make_shared<CaptureOutput>();
  std::shared_ptr<FakeVm> vm = std::make_shared<FakeVm>();
  std::vector<sandbox::SandboxOptions> created;
  VmCreateCallback pending_create;
  bool create_async = false;
  std::optional<Error> create_error;
  std::shared_ptr<Server> server;
  bool done = false;

  Harness() {
    uv_loop_init(&loop);
    server = Server::create(&loop, out, [this](sandbox::SandboxOptions o, VmCreateCallback cb) {
      created.push_back(std::move(o));
      if (create_async) {
        pending_create = std::move(cb);
      } else if (create_error) {
        cb(*create_error);
      } else {
        cb(std::shared_ptr<VmPort>(vm));
      }
    });
    server->set_on_done([this] { done = true; });
  }
  ~Harness() {
    server.reset();
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
  }

  void send(const std::string& line) { server->handle_input(line + "\n"); }
  void create_vm() {
    send(R"({"jsonrpc":"2.0","method":"create","params":{"image":"alpine:latest"},"id":1})");
    REQUIRE(last() == R"({"jsonrpc":"2.0","result":{"id":"vm-0123abcd"},"id":1})");
  }
  std::string last() const {
    REQUIRE_FALSE(out->lines.empty());
    std::string l = out->lines.back();
    l.pop_back();  // "\n"
    return l;
  }
  rapidjson::Document json(size_t i) const {
    rapidjson::Document d;
    d.Parse(out->lines.at(i).c_str());
    REQUIRE_FALSE(d.HasParseError());
    return d;
  }
  Launched& exec(size_t i = 0) { return vm->execs.at(i); }
};

}  // namespace

TEST_CASE("unparsable_lines_get_a_parse_error_without_id", "[rpc][server]") {
  Harness h;
  h.send("not json");
  CHECK(h.last() == R"({"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"}})");
  h.send(R"({"jsonrpc":"2.0","method":"version","id":1)");
  CHECK(h.last() == R"({"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"}})");
  CHECK(h.out->lines.size() == 2);
}

TEST_CASE("an_id_that_is_not_an_unsigned_integer_is_an_invalid_request", "[rpc][server]") {
  Harness h;
  h.send(R"({"jsonrpc":"2.0","method":"exec","id":"1"})");
  CHECK(
      h.last() ==
      R"({"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request: id must be an unsigned integer"}})");
  CHECK(h.out->lines.size() == 1);
}

TEST_CASE("a_batch_is_an_invalid_request_not_a_parse_error", "[rpc][server]") {
  Harness h;
  h.send(R"( [{"jsonrpc":"2.0","method":"close","id":1}])");
  CHECK(
      h.last() ==
      R"({"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request: batches are not supported"}})");
  // Not one of its requests ran: the session still serves.
  CHECK_FALSE(h.done);
  CHECK(h.created.empty());
}

TEST_CASE("an_empty_batch_gets_one_invalid_request_error", "[rpc][server]") {
  Harness h;
  h.send("[]");
  CHECK(
      h.last() ==
      R"({"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request: batches are not supported"}})");
  CHECK(h.out->lines.size() == 1);
}

TEST_CASE("a_request_without_method_is_an_invalid_request", "[rpc][server]") {
  Harness h;
  h.send(R"({"jsonrpc":"2.0","params":{},"id":4})");
  CHECK(
      h.last() ==
      R"({"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request: method is required"},"id":4})");
  // Not a notification either: without method and id it is still answered.
  h.send(R"({"jsonrpc":"2.0"})");
  CHECK(
      h.last() ==
      R"({"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request: method is required"}})");
}

TEST_CASE("a_wrong_or_missing_jsonrpc_version_is_an_invalid_request", "[rpc][server]") {
  Harness h;
  h.send(R"({"jsonrpc":"1.0","method":"version","id":5})");
  CHECK(
      h.last() ==
      R"({"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request: jsonrpc must be \"2.0\""},"id":5})");
  h.send(R"({"method":"version","id":6})");
  CHECK(
      h.last() ==
      R"({"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request: jsonrpc must be \"2.0\""},"id":6})");
  h.send(R"({"jsonrpc":"2.0","method":"version","id":7})");  // still serving
  CHECK(h.json(2)["id"].GetUint64() == 7);
  CHECK(h.json(2).HasMember("result"));
}

TEST_CASE("notifications_are_never_answered", "[rpc][server]") {
  Harness h;
  h.send(R"({"jsonrpc":"2.0","method":"frobnicate"})");
  h.send(R"({"jsonrpc":"2.0","method":"exec","params":{"command":"true"}})");  // no VM yet
  h.send(R"({"jsonrpc":"2.0","method":"cancel","params":{"id":3}})");
  CHECK(h.out->lines.empty());
  h.create_vm();
  size_t before = h.out->lines.size();
  h.send(R"({"jsonrpc":"2.0","method":"exec","params":{"command":"true"}})");
  h.exec().events.on_exit(0);  // the process runs; its result goes nowhere
  CHECK(h.out->lines.size() == before);
}

TEST_CASE("unknown_method_is_method_not_found_with_id", "[rpc][server]") {
  Harness h;
  h.send(R"({"jsonrpc":"2.0","method":"frobnicate","id":9})");
  CHECK(h.last() ==
        R"({"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":9})");
}

TEST_CASE("log_methods_need_a_sandbox", "[rpc][server]") {
  Harness h;
  h.send(R"({"jsonrpc":"2.0","method":"log","params":{},"id":4})");
  CHECK(h.last() ==
        R"({"jsonrpc":"2.0","error":{"code":-32000,"message":"VM not created"},"id":4})");
  h.send(R"({"jsonrpc":"2.0","method":"log_stream","id":5})");
  CHECK(h.last() ==
        R"({"jsonrpc":"2.0","error":{"code":-32000,"message":"VM not created"},"id":5})");
  size_t before = h.out->lines.size();
  h.send(R"({"jsonrpc":"2.0","method":"log_stream"})");  // a notification: never answered
  CHECK(h.out->lines.size() == before);
}

TEST_CASE("version_needs_no_sandbox", "[rpc][server]") {
  Harness h;
  h.send(R"({"jsonrpc":"2.0","method":"version","id":3})");
  rapidjson::Document d;
  d.Parse(h.last().c_str());
  REQUIRE(d.IsObject());
  CHECK(std::string(d["result"]["version"].GetString()) == MATCHLOCK_VERSION);
  CHECK(d["result"]["commit"].GetStringLength() > 0);
}

TEST_CASE("list_sandboxes_rejects_a_non_boolean_running", "[rpc][server]") {
  Harness h;
  h.send(R"({"jsonrpc":"2.0","method":"list_sandboxes","params":{"running":1},"id":3})");
  CHECK(
      h.last() ==
      R"({"jsonrpc":"2.0","error":{"code":-32602,"message":"invalid running: must be a boolean"},"id":3})");
}

TEST_CASE("allow_list_methods_need_an_intercepting_sandbox", "[rpc][server]") {
  Harness h;
  h.send(R"({"jsonrpc":"2.0","method":"allow_list_add","params":{"hosts":["a.com"]},"id":3})");
  CHECK(h.last() ==
        R"({"jsonrpc":"2.0","error":{"code":-32000,"message":"VM not created"},"id":3})");
  h.create_vm();
  h.send(R"({"jsonrpc":"2.0","method":"allow_list_add","params":{"hosts":[]},"id":4})");
  CHECK(h.last() ==
        R"({"jsonrpc":"2.0","error":{"code":-32602,"message":"hosts is required"},"id":4})");
  h.send(R"({"jsonrpc":"2.0","method":"allow_list_delete","params":{"hosts":["a.com"]},"id":5})");
  CHECK(
      h.last() ==
      R"({"jsonrpc":"2.0","error":{"code":-32000,"message":"allow-list updates unavailable: sandbox was started without network interception"},"id":5})");
}

TEST_CASE("exec_before_create_is_vm_not_created", "[rpc][server]") {
  Harness h;
  h.send(R"({"jsonrpc":"2.0","method":"exec","params":{"command":"true"},"id":2})");
  CHECK(h.last() ==
        R"({"jsonrpc":"2.0","error":{"code":-32000,"message":"VM not created"},"id":2})");
}

TEST_CASE("create_validation_error_is_invalid_params", "[rpc][server]") {
  Harness h;
  h.send(R"({"jsonrpc":"2.0","method":"create","id":1})");
  CHECK(
      h.last() ==
      R"j({"jsonrpc":"2.0","error":{"code":-32602,"message":"image is required (e.g., alpine:latest)"},"id":1})j");
  CHECK(h.created.empty());
}

TEST_CASE("second_create_is_refused", "[rpc][server]") {
  Harness h;
  h.create_vm();
  h.send(R"({"jsonrpc":"2.0","method":"create","params":{"image":"alpine:latest"},"id":2})");
  CHECK(h.last() ==
        R"({"jsonrpc":"2.0","error":{"code":-32000,"message":"sandbox already created"},"id":2})");
  CHECK(h.created.size() == 1);
}

TEST_CASE("boot_failure_is_a_vm_error", "[rpc][server]") {
  Harness h;
  h.create_error = Error(ErrorCode::kVm, "qemu exited with status 1");
  h.send(R"({"jsonrpc":"2.0","method":"create","params":{"image":"alpine:latest"},"id":1})");
  CHECK(
      h.last() ==
      R"({"jsonrpc":"2.0","error":{"code":-32000,"message":"qemu exited with status 1"},"id":1})");
}

TEST_CASE("requests_during_create_wait_for_it_then_run", "[rpc][server]") {
  Harness h;
  h.create_async = true;
  h.send(R"({"jsonrpc":"2.0","method":"create","params":{"image":"alpine:latest"},"id":1})");
  h.send(R"({"jsonrpc":"2.0","method":"exec","params":{"command":"true"},"id":2})");
  h.send(R"({"jsonrpc":"2.0","method":"exec","params":{"command":"false"},"id":3})");
  CHECK(h.out->lines.empty());
  // Requests that need no sandbox are not held back.
  h.send(R"({"jsonrpc":"2.0","method":"version","id":4})");
  CHECK(h.out->lines.size() == 1);
  h.pending_create(std::shared_ptr<VmPort>(h.vm));
  REQUIRE(h.out->lines.size() == 2);
  CHECK(h.out->lines[1] == R"({"jsonrpc":"2.0","result":{"id":"vm-0123abcd"},"id":1}
)");
  // Then the waiting ones ran, in arrival order.
  REQUIRE(h.vm->execs.size() == 2);
  CHECK(h.vm->execs[0].spec.argv.back() == "true");
  CHECK(h.vm->execs[1].spec.argv.back() == "false");
}

TEST_CASE("a_request_waiting_for_create_can_be_cancelled", "[rpc][server]") {
  Harness h;
  h.create_async = true;
  h.send(R"({"jsonrpc":"2.0","method":"create","params":{"image":"alpine:latest"},"id":1})");
  h.send(R"({"jsonrpc":"2.0","method":"exec","params":{"command":"true"},"id":2})");
  h.send(R"({"jsonrpc":"2.0","method":"cancel","params":{"id":2},"id":3})");
  REQUIRE(h.out->lines.size() == 2);
  CHECK(h.out->lines[0] ==
        R"({"jsonrpc":"2.0","error":{"code":-32003,"message":"context canceled"},"id":2}
)");
  CHECK(h.last() == R"({"jsonrpc":"2.0","result":{"cancelled":true},"id":3})");
  h.pending_create(std::shared_ptr<VmPort>(h.vm));
  CHECK(h.last() == R"({"jsonrpc":"2.0","result":{"id":"vm-0123abcd"},"id":1})");
  CHECK(h.vm->execs.empty());
}

TEST_CASE("too_many_requests_waiting_for_create_pause_the_input", "[rpc][server]") {
  Harness h;
  h.create_async = true;
  std::vector<bool> pauses;
  h.server->set_on_input_paused([&](bool paused) { pauses.push_back(paused); });
  h.send(R"({"jsonrpc":"2.0","method":"create","params":{"image":"alpine:latest"},"id":1})");
  for (size_t i = 0; i < Session::kMaxWaitingForCreate; ++i) {
    h.send(R"({"jsonrpc":"2.0","method":"exec","params":{"command":"true"},"id":2})");
  }
  CHECK(pauses == std::vector<bool>{true});
  h.pending_create(std::shared_ptr<VmPort>(h.vm));
  CHECK(pauses == std::vector<bool>{true, false});
  CHECK(h.vm->execs.size() == Session::kMaxWaitingForCreate);
}

TEST_CASE("requests_waiting_for_a_failed_create_are_vm_not_created", "[rpc][server]") {
  Harness h;
  h.create_async = true;
  h.send(R"({"jsonrpc":"2.0","method":"create","params":{"image":"alpine:latest"},"id":1})");
  h.send(R"({"jsonrpc":"2.0","method":"exec","params":{"command":"true"},"id":2})");
  h.pending_create(Error(ErrorCode::kVm, "qemu exited with status 1"));
  CHECK(h.last() ==
        R"({"jsonrpc":"2.0","error":{"code":-32000,"message":"VM not created"},"id":2})");
}

TEST_CASE("buffered_exec_returns_base64_output_and_nonzero_exit_as_success", "[rpc][server]") {
  Harness h;
  h.create_vm();
  h.send(
      R"({"jsonrpc":"2.0","method":"exec","params":{"command":"echo hi","working_dir":"/tmp"},"id":2})");
  auto& e = h.exec();
  CHECK(e.spec.argv == std::vector<std::string>{"sh", "-c", "echo hi"});
  CHECK(e.spec.workdir == "/tmp");
  CHECK_FALSE(e.spec.stdin_open);
  int credits = 0;
  e.events.on_output(sandbox::OutputStream::kStdout, "hi\n", [&] { ++credits; });
  e.events.on_output(sandbox::OutputStream::kStderr, "warn", [&] { ++credits; });
  CHECK(credits == 2);
  size_t before = h.out->lines.size();
  e.events.on_exit(3);
  REQUIRE(h.out->lines.size() == before + 1);
  auto d = h.json(before);
  CHECK(d["id"].GetInt64() == 2);
  CHECK(d["result"]["exit_code"].GetInt64() == 3);
  CHECK(d["result"]["stdout"] == "aGkK");
  CHECK(d["result"]["stderr"] == base64::encode("warn").c_str());
  CHECK(d["result"]["duration_ms"].IsInt64());
}

TEST_CASE("exec_stream_notifications_precede_the_result_and_credit_waits_for_the_write",
          "[rpc][server]") {
  Harness h;
  h.create_vm();
  h.send(
      R"({"jsonrpc":"2.0","method":"exec_stream","params":{"command":"echo 1; echo 2"},"id":3})");
  auto& e = h.exec();
  h.out->hold = true;
  int credits = 0;
  e.events.on_output(sandbox::OutputStream::kStdout, "1\n", [&] { ++credits; });
  e.events.on_output(sandbox::OutputStream::kStderr, "2\n", [&] { ++credits; });
  CHECK(credits == 0);  // not written yet: the guest gets no more credit
  h.out->release();
  CHECK(credits == 2);
  h.out->hold = false;
  e.events.on_exit(0);
  size_t n = h.out->lines.size();
  CHECK(h.out->lines[n - 3] ==
        "{\"jsonrpc\":\"2.0\",\"method\":\"exec_stream.stdout\",\"params\":{\"id\":3,\"data\":"
        "\"MQo=\"}}\n");
  CHECK(h.out->lines[n - 2] ==
        "{\"jsonrpc\":\"2.0\",\"method\":\"exec_stream.stderr\",\"params\":{\"id\":3,\"data\":"
        "\"Mgo=\"}}\n");
  auto d = h.json(n - 1);
  CHECK(d["id"].GetInt64() == 3);
  CHECK(d["result"]["exit_code"].GetInt64() == 0);
  CHECK_FALSE(d["result"].HasMember("stdout"));
}

TEST_CASE("exec_pipe_sends_ready_first_and_routes_stdin_by_params_id_without_replies",
          "[rpc][server]") {
  Harness h;
  h.create_vm();
  h.send(R"({"jsonrpc":"2.0","method":"exec_pipe","params":{"command":"cat"},"id":4})");
  CHECK(h.last() == R"({"jsonrpc":"2.0","method":"exec_pipe.ready","params":{"id":4}})");
  auto& e = h.exec();
  CHECK(e.spec.stdin_open);
  size_t before = h.out->lines.size();
  // Python/TS put a fresh top-level id on input messages and expect no reply.
  h.send(
      R"({"jsonrpc":"2.0","method":"exec_pipe.stdin","params":{"id":4,"data":"aGVsbG8="},"id":5})");
  h.send(R"({"jsonrpc":"2.0","method":"exec_pipe.stdin","params":{"id":4,"data":"!!bad!!"}})");
  h.send(R"({"jsonrpc":"2.0","method":"exec_pipe.stdin","params":{"id":99,"data":"eA=="},"id":6})");
  h.send(R"({"jsonrpc":"2.0","method":"exec_pipe.stdin_eof","params":{"id":4},"id":7})");
  CHECK(h.out->lines.size() == before);
  CHECK(e.exec->stdin_data == "hello");
  CHECK(e.exec->stdin_closed);
  e.events.on_output(sandbox::OutputStream::kStdout, "hello", [] {});
  e.events.on_exit(7);
  CHECK(h.out->lines[before] ==
        "{\"jsonrpc\":\"2.0\",\"method\":\"exec_pipe.stdout\",\"params\":{\"id\":4,\"data\":"
        "\"aGVsbG8=\"}}\n");
  auto d = h.json(before + 1);
  CHECK(d["result"]["exit_code"].GetInt64() == 7);
}

TEST_CASE("exec_pipe_and_exec_tty_sent_as_notifications_are_dropped_unanswered", "[rpc][server]") {
  Harness h;
  h.create_vm();
  size_t before = h.out->lines.size();
  h.send(R"({"jsonrpc":"2.0","method":"exec_pipe","params":{"command":"cat"}})");
  h.send(R"({"jsonrpc":"2.0","method":"exec_tty","params":{"command":"sh"}})");
  CHECK(h.out->lines.size() == before);
  CHECK(h.vm->execs.empty());  // nothing was started that no one could talk to
}

TEST_CASE("exec_tty_uses_requested_size_and_forwards_resize", "[rpc][server]") {
  Harness h;
  h.create_vm();
  h.send(
      R"({"jsonrpc":"2.0","method":"exec_tty","params":{"command":"sh","rows":40,"cols":120},"id":6})");
  CHECK(h.last() == R"({"jsonrpc":"2.0","method":"exec_tty.ready","params":{"id":6}})");
  auto& e = h.exec();
  CHECK(e.spec.tty);
  CHECK(e.spec.rows == 40);
  CHECK(e.spec.cols == 120);
  size_t before = h.out->lines.size();
  h.send(R"({"jsonrpc":"2.0","method":"exec_tty.resize","params":{"id":6,"rows":50,"cols":140}})");
  h.send(
      R"({"jsonrpc":"2.0","method":"exec_tty.stdin","params":{"id":6,"data":"ZXhpdAo="},"id":8})");
  CHECK(h.out->lines.size() == before);
  CHECK(e.exec->resizes == std::vector<std::pair<int, int>>{{50, 140}});
  CHECK(e.exec->stdin_data == "exit\n");
  e.events.on_output(sandbox::OutputStream::kStdout, "$ ", [] {});
  CHECK(h.out->lines.back().find("exec_tty.stdout") != std::string::npos);
}

TEST_CASE("exec_tty_defaults_to_24x80", "[rpc][server]") {
  Harness h;
  h.create_vm();
  h.send(R"({"jsonrpc":"2.0","method":"exec_tty","params":{"command":"sh"},"id":6})");
  CHECK(h.exec().spec.rows == 24);
  CHECK(h.exec().spec.cols == 80);
}

TEST_CASE("exec_start_failure_is_exec_failed", "[rpc][server]") {
  Harness h;
  h.create_vm();
  h.vm->on_exec = [](Launched& l) {
    l.events.on_error(Error(ErrorCode::kGuest, "exec: \"nope\": not found"), 127);
  };
  h.send(R"({"jsonrpc":"2.0","method":"exec_pipe","params":{"command":"nope"},"id":2})");
  REQUIRE(h.out->lines.size() == 3);
  CHECK(h.out->lines[1].find("exec_pipe.ready") != std::string::npos);
  CHECK(
      h.last() ==
      R"({"jsonrpc":"2.0","error":{"code":-32001,"message":"exec: \"nope\": not found"},"id":2})");
}

TEST_CASE("cancel_kills_the_exec_and_its_final_reply_is_context_canceled", "[rpc][server]") {
  Harness h;
  h.create_vm();
  h.send(R"({"jsonrpc":"2.0","method":"exec","params":{"command":"sleep 100"},"id":2})");
  h.send(R"({"jsonrpc":"2.0","method":"cancel","params":{"id":2},"id":3})");
  CHECK(h.last() == R"({"jsonrpc":"2.0","result":{"cancelled":true},"id":3})");
  CHECK(h.exec().exec->cancels == 1);
  h.exec().events.on_exit(143);
  CHECK(h.last() ==
        R"({"jsonrpc":"2.0","error":{"code":-32003,"message":"context canceled"},"id":2})");
  h.send(R"({"jsonrpc":"2.0","method":"cancel","params":{"id":2},"id":4})");
  CHECK(h.last() == R"({"jsonrpc":"2.0","result":{"cancelled":false},"id":4})");
  h.send(R"({"jsonrpc":"2.0","method":"cancel","params":{"id":1},"id":5})");
  CHECK(h.last() == R"({"jsonrpc":"2.0","result":{"cancelled":false},"id":5})");
  h.send(R"({"jsonrpc":"2.0","method":"cancel","id":6})");
  CHECK(h.last() == R"({"jsonrpc":"2.0","result":{"cancelled":false},"id":6})");
}

TEST_CASE("concurrent_execs_are_answered_by_id_in_completion_order", "[rpc][server]") {
  Harness h;
  h.create_vm();
  for (int id = 2; id <= 4; ++id) {
    h.send(R"({"jsonrpc":"2.0","method":"exec","params":{"command":"x"},"id":)" +
           std::to_string(id) + "}");
  }
  REQUIRE(h.vm->execs.size() == 3);
  h.exec(2).events.on_exit(0);
  CHECK(h.json(h.out->lines.size() - 1)["id"].GetInt64() == 4);
  h.exec(0).events.on_exit(0);
  CHECK(h.json(h.out->lines.size() - 1)["id"].GetInt64() == 2);
  h.exec(1).events.on_exit(0);
  CHECK(h.json(h.out->lines.size() - 1)["id"].GetInt64() == 3);
}

TEST_CASE("close_cancels_execs_closes_the_vm_and_ignores_later_lines", "[rpc][server]") {
  Harness h;
  h.create_vm();
  h.send(R"({"jsonrpc":"2.0","method":"exec","params":{"command":"sleep 100"},"id":2})");
  h.send(R"({"jsonrpc":"2.0","method":"close","params":{"timeout_seconds":2},"id":3})");
  CHECK(h.vm->closes == 1);
  CHECK(h.vm->last_graceful_ms == 2000);
  size_t n = h.out->lines.size();
  CHECK(h.out->lines[n - 2] ==
        "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32003,\"message\":\"context "
        "canceled\"},\"id\":2}\n");
  CHECK(h.last() == R"({"jsonrpc":"2.0","result":{},"id":3})");
  h.send(R"({"jsonrpc":"2.0","method":"exec","params":{"command":"x"},"id":4})");
  h.send("garbage");
  CHECK(h.out->lines.size() == n);
  CHECK_FALSE(h.done);
  h.server->handle_eof();
  CHECK(h.done);
}

TEST_CASE("close_without_a_vm_still_replies", "[rpc][server]") {
  Harness h;
  h.send(R"({"jsonrpc":"2.0","method":"close","id":1})");
  CHECK(h.last() == R"({"jsonrpc":"2.0","result":{},"id":1})");
  h.server->handle_eof();
  CHECK(h.done);
}

TEST_CASE("stdin_eof_cancels_in_flight_execs_and_hard_stops_the_vm", "[rpc][server]") {
  Harness h;
  h.create_vm();
  h.vm->close_async = true;
  h.send(R"({"jsonrpc":"2.0","method":"exec_stream","params":{"command":"sleep 100"},"id":2})");
  h.server->handle_eof();
  CHECK(h.vm->closes == 1);
  CHECK(h.vm->last_graceful_ms == 0);
  CHECK(h.last() ==
        R"({"jsonrpc":"2.0","error":{"code":-32003,"message":"context canceled"},"id":2})");
  CHECK_FALSE(h.done);  // the VM is not gone yet
  h.vm->pending_close(Status());
  CHECK(h.done);
}

TEST_CASE("stdin_eof_during_create_closes_the_new_vm", "[rpc][server]") {
  Harness h;
  h.create_async = true;
  h.send(R"({"jsonrpc":"2.0","method":"create","params":{"image":"alpine:latest"},"id":1})");
  h.server->handle_eof();
  CHECK_FALSE(h.done);
  h.pending_create(std::shared_ptr<VmPort>(h.vm));
  CHECK(h.vm->closes == 1);
  CHECK(h.last() ==
        R"({"jsonrpc":"2.0","error":{"code":-32003,"message":"context canceled"},"id":1})");
  CHECK(h.done);
}

TEST_CASE("launched_entrypoint_failing_fast_fails_create_and_closes_the_vm", "[rpc][server]") {
  Harness h;
  h.vm->entrypoint = {"sh", "-lc", "exit 3"};
  h.send(
      R"({"jsonrpc":"2.0","method":"create","params":{"image":"alpine:latest","launch_entrypoint":true},"id":1})");
  REQUIRE(h.vm->execs.size() == 1);
  CHECK(h.exec().spec.argv == h.vm->entrypoint);
  CHECK_FALSE(h.exec().spec.stdin_open);
  CHECK(h.out->lines.empty());
  h.exec().events.on_exit(3);
  CHECK(
      h.last() ==
      R"({"jsonrpc":"2.0","error":{"code":-32000,"message":"start image entrypoint: exit code 3"},"id":1})");
  CHECK(h.vm->closes == 1);
  h.send(R"({"jsonrpc":"2.0","method":"exec","params":{"command":"x"},"id":2})");
  CHECK(h.last() ==
        R"({"jsonrpc":"2.0","error":{"code":-32000,"message":"VM not created"},"id":2})");
}

TEST_CASE("launched_entrypoint_still_running_after_the_window_lets_create_succeed",
          "[rpc][server]") {
  Harness h;
  h.vm->entrypoint = {"nginx"};
  h.send(
      R"({"jsonrpc":"2.0","method":"create","params":{"image":"nginx","launch_entrypoint":true},"id":1})");
  CHECK(h.out->lines.empty());
  h.exec().events.on_started(42);   // the window opens when the guest has started it
  uv_run(&h.loop, UV_RUN_DEFAULT);  // the 500 ms settle timer is the only active handle
  CHECK(h.last() == R"({"jsonrpc":"2.0","result":{"id":"vm-0123abcd"},"id":1})");
  h.send(R"({"jsonrpc":"2.0","method":"close","params":{},"id":2})");
  CHECK(h.exec().exec->cancels == 1);
  CHECK(h.last() == R"({"jsonrpc":"2.0","result":{},"id":2})");
}

// The window counts from the process's start in the guest, not from the request: a restored
// TCG guest can take longer than the window just to spawn it, and a quick failure must still
// fail `create`.
TEST_CASE("launched_entrypoint_window_opens_when_the_guest_starts_it", "[rpc][server]") {
  Harness h;
  h.vm->entrypoint = {"sh", "-lc", "exit 3"};
  h.send(
      R"({"jsonrpc":"2.0","method":"create","params":{"image":"alpine:latest","launch_entrypoint":true},"id":1})");
  uv_timer_t later;
  uv_timer_init(&h.loop, &later);
  uv_timer_start(
      &later, [](uv_timer_t* t) { uv_stop(t->loop); }, 700, 0);
  uv_run(&h.loop, UV_RUN_DEFAULT);  // 700 ms pass before the guest starts it
  CHECK(h.out->lines.empty());
  h.exec().events.on_started(42);
  h.exec().events.on_exit(3);
  CHECK(
      h.last() ==
      R"({"jsonrpc":"2.0","error":{"code":-32000,"message":"start image entrypoint: exit code 3"},"id":1})");
  uv_close(reinterpret_cast<uv_handle_t*>(&later), nullptr);
  uv_run(&h.loop, UV_RUN_NOWAIT);
}

TEST_CASE("failed_stdout_write_tears_down_like_stdin_eof", "[rpc][server]") {
  Harness h;
  h.create_vm();
  h.out->fail = true;
  h.send(R"({"jsonrpc":"2.0","method":"frobnicate","id":2})");
  uv_run(&h.loop, UV_RUN_NOWAIT);
  CHECK(h.vm->closes == 1);
  CHECK(h.done);
}

TEST_CASE("stdin_backlog_pauses_input_until_drained", "[rpc][server]") {
  Harness h;
  std::vector<bool> pauses;
  h.server->set_on_input_paused([&](bool p) { pauses.push_back(p); });
  h.create_vm();
  h.send(R"({"jsonrpc":"2.0","method":"exec_pipe","params":{"command":"sleep 100"},"id":2})");
  auto& e = h.exec();
  e.exec->backlog = Server::kMaxStdinBacklog + 1;
  h.send(R"({"jsonrpc":"2.0","method":"exec_pipe.stdin","params":{"id":2,"data":"eA=="}})");
  CHECK(pauses == std::vector<bool>{true});
  e.exec->backlog = 0;
  REQUIRE(e.exec->on_drained);
  e.exec->on_drained();
  CHECK(pauses == std::vector<bool>{true, false});
}

TEST_CASE("buffered_output_beyond_the_process_wide_budget_is_dropped_and_flagged",
          "[rpc][server]") {
  // Another call already holds all but 4 bytes of the owner's budget.
  auto& budget = rpc::reply_payload_budget();
  const size_t held = budget.take(SIZE_MAX);
  budget.give_back(4);
  Harness h;
  h.create_vm();
  h.send(R"({"jsonrpc":"2.0","method":"exec","params":{"command":"yes"},"id":2})");
  auto& e = h.exec();
  e.events.on_output(sandbox::OutputStream::kStdout, "abcdefgh", [] {});
  size_t before = h.out->lines.size();
  e.events.on_exit(0);
  auto d = h.json(before);
  CHECK(d["result"]["stdout"] == base64::encode("abcd").c_str());
  REQUIRE(d["result"].HasMember("stdout_truncated"));
  CHECK(d["result"]["stdout_truncated"].GetBool());
  CHECK_FALSE(d["result"].HasMember("stderr_truncated"));
  budget.give_back(held - 4);
  CHECK(budget.used() == 0);  // the finished call gave its bytes back
}

TEST_CASE("a_buffered_result_holds_its_budget_until_the_client_has_the_line", "[rpc][server]") {
  auto& budget = rpc::reply_payload_budget();
  REQUIRE(budget.used() == 0);
  Harness h;
  h.create_vm();
  h.out->hold = true;  // a client that does not read its replies yet
  h.send(R"({"jsonrpc":"2.0","method":"exec","params":{"command":"yes"},"id":2})");
  auto& e = h.exec();
  e.events.on_output(sandbox::OutputStream::kStdout, "abcdefgh", [] {});
  e.events.on_output(sandbox::OutputStream::kStderr, "xy", [] {});
  e.events.on_exit(0);
  auto d = h.json(h.out->lines.size() - 1);
  CHECK(d["result"]["stdout"] == base64::encode("abcdefgh").c_str());
  CHECK(d["result"]["stderr"] == base64::encode("xy").c_str());
  CHECK(budget.used() == 10);  // the call is gone, its unwritten line still counts
  h.out->release();
  CHECK(budget.used() == 0);
}

TEST_CASE("output_budget_grants_at_most_its_limit_and_takes_back", "[rpc]") {
  rpc::OutputBudget b(10);
  CHECK(b.take(6) == 6);
  CHECK(b.take(6) == 4);
  CHECK(b.take(1) == 0);
  b.give_back(5);
  CHECK(b.take(7) == 5);
  b.give_back(100);  // never below zero
  CHECK(b.used() == 0);
}

TEST_CASE("output_budget_acquire_waits_in_order_and_take_uses_what_is_free", "[rpc]") {
  rpc::OutputBudget b(10);
  std::vector<int> granted;
  CHECK(b.take(7) == 7);
  b.acquire(5, [&] { granted.push_back(1); });
  b.acquire(1, [&] { granted.push_back(2); });  // would fit, but waits behind the first
  CHECK(granted.empty());
  CHECK(b.waiting() == 2);
  // A buffered exec's output is never starved by a read waiting for more than is free.
  CHECK(b.take(2) == 2);
  b.give_back(5);  // 4 in use: both waiters fit
  CHECK(granted == std::vector<int>{1, 2});
  CHECK(b.used() == 10);
  b.acquire(50, [&] { granted.push_back(3); });  // capped at the limit, not refused forever
  b.give_back(10);
  CHECK(granted.back() == 3);
  CHECK(b.used() == 10);
  // A grant that gives back at once lets the next waiter in within the same give_back.
  b.acquire(10, [&] {
    granted.push_back(4);
    b.give_back(10);
  });
  b.acquire(10, [&] { granted.push_back(5); });
  b.give_back(10);
  CHECK(granted == std::vector<int>{1, 2, 3, 4, 5});
  CHECK(b.used() == 10);
  CHECK(b.waiting() == 0);
}
