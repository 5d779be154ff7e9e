// The hook pipeline against a real unix-socket SDK server served on the same libuv loop.
#include "vfs/hook_pipeline.h"

#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <thread>

#include "core/base64.h"
#include "core/uv.h"

using namespace matchlock;
using namespace matchlock::vfs;
namespace fs = std::filesystem;

namespace {

struct Loop {
  uv_loop_t loop{};
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    for (int i = 0; i < 200 && uv_loop_alive(&loop); ++i) uv_run(&loop, UV_RUN_NOWAIT);
    uv::close_loop(&loop);
  }
  bool run_until(const std::function<bool()>& done, int timeout_ms = 5000) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    uv::Timer tick(&loop);
    tick.start(
        5, [] {}, 5);
    while (!done() && std::chrono::steady_clock::now() < deadline) uv_run(&loop, UV_RUN_ONCE);
    return done();
  }
};

// Plays the SDK on the loop: each connection's first line is recorded and answered with
// answer(line) ("" = read it and never answer, "<close>" = close without answering).
class FakeSdk {
 public:
  using Answer = std::function<std::string(const std::string& line)>;
  FakeSdk(uv_loop_t* loop, Answer answer) : loop_(loop), answer_(std::move(answer)) {
    char dir[] = "/tmp/vfs-hook-test-XXXXXX";
    REQUIRE(::mkdtemp(dir) != nullptr);
    dir_ = dir;
    path_ = (dir_ / "hook.sock").string();
    REQUIRE(uv_pipe_init(loop_, &server_, 0) == 0);
    server_.data = this;
    REQUIRE(uv_pipe_bind(&server_, path_.c_str()) == 0);
    REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(&server_), 128,
                      [](uv_stream_t* s, int) { static_cast<FakeSdk*>(s->data)->accept(); }) == 0);
  }
  ~FakeSdk() {
    for (auto& c : conns_) {
      if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&c->pipe))) close(*c);
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&server_), nullptr);
    for (int i = 0; i < 100; ++i) uv_run(loop_, UV_RUN_NOWAIT);
    fs::remove_all(dir_);
  }
  const std::string& path() const { return path_; }
  std::vector<std::string> lines;

 private:
  struct Conn {
    uv_pipe_t pipe{};
    FakeSdk* sdk = nullptr;
    std::string in;
    std::string out;
    uv_write_t write{};
    char buf[65536];
  };
  static void close(Conn& c) { uv_close(reinterpret_cast<uv_handle_t*>(&c.pipe), nullptr); }

  void accept() {
    auto c = std::make_unique<Conn>();
    c->sdk = this;
    uv_pipe_init(loop_, &c->pipe, 0);
    c->pipe.data = c.get();
    REQUIRE(uv_accept(reinterpret_cast<uv_stream_t*>(&server_),
                      reinterpret_cast<uv_stream_t*>(&c->pipe)) == 0);
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&c->pipe),
        [](uv_handle_t* h, size_t, uv_buf_t* b) {
          auto* conn = static_cast<Conn*>(h->data);
          *b = uv_buf_init(conn->buf, sizeof conn->buf);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
          auto* conn = static_cast<Conn*>(s->data);
          if (n < 0) return;
          conn->in.append(b->base, static_cast<size_t>(n));
          auto nl = conn->in.find('\n');
          if (nl == std::string::npos) return;
          uv_read_stop(s);
          conn->sdk->respond(*conn, conn->in.substr(0, nl));
        });
    conns_.push_back(std::move(c));
  }
  void respond(Conn& c, const std::string& line) {
    lines.push_back(line);
    std::string answer = answer_(line);
    if (answer.empty()) return;  // silence: the caller's deadline ends it
    if (answer == "<close>") return close(c);
    c.out = answer + "\n";
    uv_buf_t b = uv_buf_init(c.out.data(), static_cast<unsigned>(c.out.size()));
    uv_write(&c.write, reinterpret_cast<uv_stream_t*>(&c.pipe), &b, 1, nullptr);
  }

  uv_loop_t* loop_;
  Answer answer_;
  fs::path dir_;
  std::string path_;
  uv_pipe_t server_{};
  std::vector<std::unique_ptr<Conn>> conns_;
};

HookSettings settings(const char* json, const std::string& socket = "") {
  rapidjson::Document d;
  d.Parse(json);
  REQUIRE_FALSE(d.HasParseError());
  if (!socket.empty()) {
    d.AddMember("callback_socket", rapidjson::Value(socket.c_str(), d.GetAllocator()),
                d.GetAllocator());
  }
  auto s = parse_hook_settings(d, "vfs.interception");
  REQUIRE(s.ok());
  return std::move(*s);
}

FileOperation write_op(const char* path) {
  FileOperation o;
  o.op = FileOp::kWrite;
  o.path = path;
  o.uid = 1000;
  o.gid = 1000;
  o.pid = 42;
  o.offset = 7;
  o.size = 5;
  return o;
}

// Runs before() to its decision.
HookDecision decide(Loop& l, HookPipeline& p, const FileOperation& op, std::string_view data) {
  std::optional<HookDecision> out;
  p.before(op, data, [&](HookDecision d) { out = std::move(d); });
  REQUIRE(l.run_until([&] { return out.has_value(); }, 8000));
  return *out;
}

}  // namespace

TEST_CASE("before_rules_run_in_order_and_the_first_block_wins", "[vfs][hooks][pipeline]") {
  Loop l;
  HookPipeline p(&l.loop, settings(R"({"rules":[
      {"ops":["write"],"path":"/workspace/*.txt","action":"allow"},
      {"ops":["write"],"path":"/workspace/*.txt","action":"block","errno":"EACCES"},
      {"path":"/workspace/*","action":"block","errno":"EROFS"},
      {"phase":"after","action":"block"}]})"),
                 {});
  CHECK(p.wants_before(write_op("/workspace/a.txt")));
  CHECK(decide(l, p, write_op("/workspace/a.txt"), "hello").error == EACCES);
  CHECK(decide(l, p, write_op("/workspace/a.c"), "hello").error == EROFS);
  CHECK_FALSE(p.wants_before(write_op("/workspace/src/a.c")));  // * does not cross /
  auto d = decide(l, p, write_op("/workspace/src/a.c"), "hello");
  CHECK(d.error == 0);
  CHECK_FALSE(d.replace.has_value());
}

TEST_CASE("after_events_go_to_the_sink_when_asked", "[vfs][hooks][pipeline]") {
  Loop l;
  std::vector<std::pair<std::string, int>> events;
  auto sink = [&](const FileOperation& op, int error) { events.emplace_back(op.path, error); };
  HookPipeline quiet(&l.loop, HookSettings{}, sink);
  quiet.after(write_op("/workspace/a"), 0);
  CHECK(events.empty());
  HookPipeline loud(&l.loop, settings(R"({"emit_events":true})"), sink);
  CHECK_FALSE(loud.wants_before(write_op("/workspace/a")));
  loud.after(write_op("/workspace/a"), EACCES);
  REQUIRE(events.size() == 1);
  CHECK(events[0] == std::make_pair(std::string("/workspace/a"), EACCES));
}

TEST_CASE("callback_allow_block_and_mutate", "[vfs][hooks][pipeline]") {
  Loop l;
  FakeSdk sdk(&l.loop, [](const std::string& line) -> std::string {
    rapidjson::Document d;
    d.Parse(line.c_str());
    const std::string path = d["path"].GetString();
    if (path == "/workspace/block") return R"({"action":"block","errno":"ENOSPC"})";
    if (path == "/workspace/num") return R"({"action":"block","errno":13})";
    if (path == "/workspace/mutate") {
      return std::string(R"({"action":"mutate_write","data_base64":")") + base64::encode("HELLO!") +
             "\"}";
    }
    return R"({"action":"allow","error":""})";
  });
  HookPipeline p(&l.loop,
                 settings(R"({"rules":[
      {"ops":["write"],"action":"mutate_write","callback_id":"vfs_hook_1","timeout_ms":3000}]})",
                          sdk.path()),
                 {});
  auto allowed = decide(l, p, write_op("/workspace/ok"), "hello");
  CHECK(allowed.error == 0);
  CHECK_FALSE(allowed.replace.has_value());
  CHECK(decide(l, p, write_op("/workspace/block"), "hello").error == ENOSPC);
  CHECK(decide(l, p, write_op("/workspace/num"), "hello").error == 13);
  auto mutated = decide(l, p, write_op("/workspace/mutate"), "hello");
  CHECK(mutated.error == 0);
  CHECK(mutated.replace == "HELLO!");

  REQUIRE(sdk.lines.size() == 4);
  rapidjson::Document req;
  req.Parse(sdk.lines[0].c_str());
  CHECK(std::string(req["callback_id"].GetString()) == "vfs_hook_1");
  CHECK(std::string(req["phase"].GetString()) == "before");
  CHECK(std::string(req["op"].GetString()) == "write");
  CHECK(req["uid"].GetUint() == 1000);
  CHECK(req["pid"].GetUint() == 42);
  CHECK(req["offset"].GetUint64() == 7);
  CHECK(req["size"].GetUint64() == 5);
  CHECK(std::string(req["data_base64"].GetString()) == base64::encode("hello"));
  CHECK_FALSE(req.HasMember("new_path"));
}

TEST_CASE("callback_failures_fail_closed_with_eperm", "[vfs][hooks][pipeline]") {
  Loop l;
  FakeSdk sdk(&l.loop, [](const std::string& line) -> std::string {
    rapidjson::Document d;
    d.Parse(line.c_str());
    const std::string path = d["path"].GetString();
    if (path == "/workspace/garbage") return "this is not json";
    if (path == "/workspace/error") return R"({"error":"hook raised"})";
    if (path == "/workspace/badaction") return R"({"action":"explode"})";
    if (path == "/workspace/close") return "<close>";
    return "";  // never answers
  });
  HookPipeline p(&l.loop,
                 settings(R"({"rules":[
      {"action":"allow","callback_id":"c","timeout_ms":200}]})",
                          sdk.path()),
                 {});
  for (const char* path : {"/workspace/garbage", "/workspace/error", "/workspace/badaction",
                           "/workspace/close", "/workspace/timeout"}) {
    INFO(path);
    CHECK(decide(l, p, write_op(path), "x").error == EPERM);
  }
  // Nobody listening at all.
  HookPipeline refused(&l.loop,
                       settings(R"({"rules":[{"callback_id":"c"}]})", sdk.path() + ".missing"), {});
  CHECK(decide(l, refused, write_op("/workspace/a"), "x").error == EPERM);
}

TEST_CASE("callback_without_mutate_sends_no_data", "[vfs][hooks][pipeline]") {
  Loop l;
  FakeSdk sdk(&l.loop, [](const std::string&) -> std::string { return "{}"; });
  HookPipeline p(&l.loop, settings(R"({"rules":[{"callback_id":"c"}]})", sdk.path()), {});
  FileOperation rename;
  rename.op = FileOp::kRename;
  rename.path = "/workspace/a";
  rename.new_path = "/workspace/b";
  CHECK(decide(l, p, rename, "").error == 0);
  CHECK(decide(l, p, write_op("/workspace/a"), "secret").error == 0);
  REQUIRE(sdk.lines.size() == 2);
  CHECK(sdk.lines[0].find(R"("new_path":"/workspace/b")") != std::string::npos);
  CHECK(sdk.lines[1].find("data_base64") == std::string::npos);
}

TEST_CASE("after_callbacks_are_fire_and_forget_and_bounded", "[vfs][hooks][pipeline]") {
  Loop l;
  FakeSdk sdk(&l.loop, [](const std::string&) -> std::string { return ""; });  // slow SDK
  int events = 0;
  HookPipeline p(
      &l.loop,
      settings(R"({"rules":[{"phase":"after","callback_id":"c","timeout_ms":300}]})", sdk.path()),
      [&](const FileOperation&, int) { ++events; });
  CHECK_FALSE(p.wants_before(write_op("/workspace/a")));
  for (size_t i = 0; i < HookPipeline::kMaxAfterCallsInFlight + 5; ++i) {
    p.after(write_op("/workspace/a"), 0);
  }
  CHECK(events == static_cast<int>(HookPipeline::kMaxAfterCallsInFlight + 5));
  CHECK(p.dropped_after_calls() == 5);
  l.run_until([&] { return sdk.lines.size() == HookPipeline::kMaxAfterCallsInFlight; });
  REQUIRE(sdk.lines.size() == HookPipeline::kMaxAfterCallsInFlight);
  CHECK(sdk.lines[0].find(R"("phase":"after")") != std::string::npos);
  CHECK(sdk.lines[0].find(R"("errno":0)") != std::string::npos);
}

TEST_CASE("callback_answers_are_parsed_defensively", "[vfs][hooks][pipeline]") {
  auto w = write_op("/w/a");
  CHECK(parse_callback_answer("{}", w)->error == 0);
  CHECK(parse_callback_answer(R"({"action":"block"})", w)->error == EPERM);
  CHECK_FALSE(parse_callback_answer(R"({"action":"block","errno":"EWHAT"})", w).ok());
  CHECK_FALSE(parse_callback_answer(R"({"action":"mutate_write","data_base64":"!!"})", w).ok());
  CHECK_FALSE(parse_callback_answer(R"({"action":1})", w).ok());
  CHECK_FALSE(parse_callback_answer(R"([1])", w).ok());
  CHECK_FALSE(parse_callback_answer(R"({"error":5})", w).ok());
  FileOperation stat;
  stat.op = FileOp::kStat;
  auto ignored = parse_callback_answer(R"({"action":"mutate_write","data_base64":"YQ=="})", stat);
  REQUIRE(ignored.ok());
  CHECK_FALSE(ignored->replace.has_value());  // only writes carry data
}
