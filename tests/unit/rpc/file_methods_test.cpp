// rpc write_file / read_file / list_files and file events, against a fake VM.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/base64.h"
#include "rpc/file_wire.h"
#include "rpc/output_budget.h"
#include "rpc/server.h"

using namespace matchlock;
using namespace matchlock::rpc;

namespace {

struct Lines : Output {
  std::vector<std::string> lines;
  std::vector<std::function<void(bool)>> held;  // hold_writes: completions not yet run
  bool hold_writes = false;
  void write_line(std::string line, std::function<void(bool)> done) override {
    line.pop_back();
    lines.push_back(std::move(line));
    if (hold_writes) {
      held.push_back(std::move(done));
    } else if (done) {
      done(true);
    }
  }
  void flush(std::function<void()> done) override { done(); }
  const std::string& last() const { return lines.back(); }
};

struct FileVm : VmPort {
  std::string file = "hello world";
  uint32_t file_mode = S_IFREG | 0640;
  std::vector<sandbox::GuestFileWrite> writes;
  std::vector<std::pair<uint64_t, uint64_t>> reads;  // offset, limit
  std::function<void(const sandbox::SandboxEvent&)> on_event;

  std::string id() const override { return "vm-0123abcd"; }
  std::vector<std::string> entrypoint_command() const override { return {}; }
  std::shared_ptr<ExecPort> exec(const sandbox::ExecSpec&, sandbox::ExecEvents) override {
    return nullptr;
  }
  void close(uint64_t, std::function<void(Status)> done) override { done(Status()); }
  void set_on_terminated(std::function<void(const Error&)>) override {}
  void read_file(const std::string& path, uint64_t offset, uint64_t limit,
                 std::function<void(Result<sandbox::GuestFileChunk>)> done) override {
    reads.emplace_back(offset, limit);
    if (path == "/missing") return done(not_found("open /missing: no such file or directory"));
    if (path == "/dir") {
      return done(invalid_argument("read_file only supports regular files: /dir"));
    }
    sandbox::GuestFileChunk c;
    c.file_size = path == "/huge" ? 20 * 1024 * 1024 : file.size();
    c.mode = file_mode;
    c.data = offset < file.size() ? file.substr(offset, limit) : "";
    done(std::move(c));
  }
  void write_file(sandbox::GuestFileWrite w, std::function<void(Status)> done) override {
    writes.push_back(w);
    if (w.path == "/ro/x")
      return done(Error(ErrorCode::kGuest, "open /ro/x: read-only file system"));
    done(Status());
  }
  void list_files(const std::string& path,
                  std::function<void(Result<std::vector<sandbox::GuestFileInfo>>)> done) override {
    if (path == "/empty") return done(std::vector<sandbox::GuestFileInfo>{});
    done(std::vector<sandbox::GuestFileInfo>{{"a.txt", 5, S_IFREG | 0644, false, 0},
                                             {"src", 4096, S_IFDIR | 0755, true, 1718000000}});
  }
  void stat_file(const std::string& path,
                 std::function<void(Result<std::optional<sandbox::GuestFileInfo>>)> done) override {
    if (path == "/missing") return done(std::optional<sandbox::GuestFileInfo>());
    if (path == "/denied") return done(Error(ErrorCode::kGuest, "stat /denied: permission denied"));
    done(std::optional<sandbox::GuestFileInfo>(
        sandbox::GuestFileInfo{"src", 4096, S_IFDIR | 0755, true, 1718000000}));
  }
  void make_dir(sandbox::GuestMakeDir request, std::function<void(Status)> done) override {
    dirs.push_back(request);
    done(Status());
  }
  void remove_file(const std::string& path, bool recursive,
                   std::function<void(Status)> done) override {
    removed.emplace_back(path, recursive);
    if (path == "/gone") return done(not_found("remove /gone: No such file or directory"));
    done(Status());
  }
  void rename_file(const std::string& old_path, const std::string& new_path,
                   std::function<void(Status)> done) override {
    renamed.emplace_back(old_path, new_path);
    done(Status());
  }
  void set_on_event(std::function<void(const sandbox::SandboxEvent&)> fn) override {
    on_event = std::move(fn);
  }
  std::vector<sandbox::GuestMakeDir> dirs;
  std::vector<std::pair<std::string, bool>> removed;
  std::vector<std::pair<std::string, std::string>> renamed;
};

struct Harness {
  uv_loop_t loop{};
  std::shared_ptr<FileVm> vm = std::make_shared<FileVm>();
  std::shared_ptr<Lines> out = std::make_shared<Lines>();
  std::shared_ptr<Session> s;
  Harness() {
    uv_loop_init(&loop);
    s = Session::create(&loop, out, [this](sandbox::SandboxOptions, VmCreateCallback cb) {
      cb(std::shared_ptr<VmPort>(vm));
    });
    send(R"({"jsonrpc":"2.0","method":"create","params":{"image":"alpine:latest"},"id":1})");
    REQUIRE(s->host()->ready());
  }
  ~Harness() {
    s.reset();
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
  }
  void send(const std::string& line) { s->handle_input(line + "\n"); }
  const std::string& last() const { return out->last(); }
};

}  // namespace

TEST_CASE("write_file_decodes_and_defaults", "[rpc][files]") {
  Harness h;
  h.send(
      R"({"jsonrpc":"2.0","method":"write_file","params":{"path":"/workspace/a.txt","content":"aGVsbG8="},"id":2})");
  CHECK(h.last() == R"({"jsonrpc":"2.0","result":{},"id":2})");
  REQUIRE(h.vm->writes.size() == 1);
  CHECK(h.vm->writes[0].data == "hello");
  CHECK(h.vm->writes[0].mode == 0644);
  CHECK(h.vm->writes[0].offset == 0);
  CHECK(h.vm->writes[0].truncate);
  CHECK(h.vm->writes[0].create_parents);
  h.send(
      R"({"jsonrpc":"2.0","method":"write_file","params":{"path":"/w/b","content":"","mode":493,"offset":4096,"truncate":false},"id":3})");
  CHECK(h.vm->writes[1].mode == 0755);
  CHECK(h.vm->writes[1].offset == 4096);
  CHECK_FALSE(h.vm->writes[1].truncate);
}

TEST_CASE("write_file_errors", "[rpc][files]") {
  Harness h;
  h.send(R"({"jsonrpc":"2.0","method":"write_file","params":{"path":"/a","content":"!!"},"id":2})");
  CHECK(h.last() ==
        R"({"jsonrpc":"2.0","error":{"code":-32602,"message":"invalid base64 content"},"id":2})");
  h.send(R"({"jsonrpc":"2.0","method":"write_file","params":{"content":""},"id":3})");
  CHECK(h.last() ==
        R"({"jsonrpc":"2.0","error":{"code":-32002,"message":"path is required"},"id":3})");
  h.send(
      R"({"jsonrpc":"2.0","method":"write_file","params":{"path":"/ro/x","content":""},"id":4})");
  CHECK(
      h.last() ==
      R"({"jsonrpc":"2.0","error":{"code":-32002,"message":"open /ro/x: read-only file system"},"id":4})");
  h.send(R"({"jsonrpc":"2.0","method":"write_file","params":{"path":"/a","offset":-1},"id":5})");
  CHECK(h.last().find("invalid offset") != std::string::npos);
  CHECK(h.vm->writes.size() == 1);
}

TEST_CASE("read_file_whole_and_ranges", "[rpc][files]") {
  Harness h;
  h.send(R"({"jsonrpc":"2.0","method":"read_file","params":{"path":"/f"},"id":2})");
  CHECK(h.last() == R"({"jsonrpc":"2.0","result":{"size":11,"mode":416,"content":")" +
                        base64::encode("hello world") + R"("},"id":2})");
  CHECK(h.vm->reads.back() == std::make_pair(uint64_t{0}, kMaxReadFileBytes + 1));
  h.send(
      R"({"jsonrpc":"2.0","method":"read_file","params":{"path":"/f","offset":6,"limit":3},"id":3})");
  CHECK(h.last() == R"({"jsonrpc":"2.0","result":{"size":11,"mode":416,"content":")" +
                        base64::encode("wor") + R"("},"id":3})");
  h.send(
      R"({"jsonrpc":"2.0","method":"read_file","params":{"path":"/f","limit":999999999},"id":4})");
  CHECK(h.vm->reads.back().second == kMaxReadFileBytes);
}

TEST_CASE("read_file_waits_for_room_and_holds_it_until_the_reply_is_written", "[rpc][files]") {
  auto& budget = reply_payload_budget();
  auto& reads = file_reads_in_flight();
  REQUIRE(budget.used() == 0);
  REQUIRE(reads.used() == 0);
  Harness h;
  const size_t others = budget.take(SIZE_MAX);  // other replies hold the whole budget
  for (int i = 0; i < 6; ++i) {
    h.send(R"({"jsonrpc":"2.0","method":"read_file","params":{"path":"/f"},"id":)" +
           std::to_string(10 + i) + "}");
  }
  // Four reads got their data and wait for room; the other two wait to start.
  CHECK(h.vm->reads.size() == reads.limit());
  CHECK(budget.waiting() == reads.limit());
  CHECK(reads.waiting() == 2);
  const size_t lines = h.out->lines.size();
  h.out->hold_writes = true;
  budget.give_back(others);
  CHECK(h.vm->reads.size() == 6);
  CHECK(h.out->lines.size() == lines + 6);
  CHECK(h.last().find(base64::encode("hello world")) != std::string::npos);
  CHECK(budget.used() == 6 * 11);  // each reply's content, until its line is written
  CHECK(reads.used() == 0);
  for (auto& done : h.out->held) done(true);
  CHECK(budget.used() == 0);
  h.send(R"({"jsonrpc":"2.0","method":"read_file","params":{"path":"/missing"},"id":3})");
  CHECK(budget.used() == 0);  // a failed read holds nothing
  CHECK(reads.used() == 0);
}

TEST_CASE("read_file_errors", "[rpc][files]") {
  Harness h;
  h.send(R"({"jsonrpc":"2.0","method":"read_file","params":{"path":"/huge"},"id":2})");
  CHECK(
      h.last() ==
      R"({"jsonrpc":"2.0","error":{"code":-32002,"message":"read_file exceeds 16777216 bytes: /huge"},"id":2})");
  h.send(R"({"jsonrpc":"2.0","method":"read_file","params":{"path":"/huge","limit":4},"id":3})");
  CHECK(h.last().find("\"result\"") != std::string::npos);  // a range of a large file is fine
  h.send(R"({"jsonrpc":"2.0","method":"read_file","params":{"path":"/missing"},"id":4})");
  CHECK(
      h.last() ==
      R"({"jsonrpc":"2.0","error":{"code":-32002,"message":"open /missing: no such file or directory"},"id":4})");
  h.send(R"({"jsonrpc":"2.0","method":"read_file","params":{"path":"/dir"},"id":5})");
  CHECK(
      h.last() ==
      R"({"jsonrpc":"2.0","error":{"code":-32002,"message":"read_file only supports regular files: /dir"},"id":5})");
}

TEST_CASE("list_files_rows", "[rpc][files]") {
  Harness h;
  h.send(R"({"jsonrpc":"2.0","method":"list_files","params":{"path":"/workspace"},"id":2})");
  CHECK(
      h.last() ==
      R"({"jsonrpc":"2.0","result":{"files":[{"name":"a.txt","size":5,"mode":420,"mod_time":"1970-01-01T00:00:00Z","is_dir":false},{"name":"src","size":4096,"mode":2147484141,"mod_time":"2024-06-10T06:13:20Z","is_dir":true}]},"id":2})");
  h.send(R"({"jsonrpc":"2.0","method":"list_files","params":{"path":"/empty"},"id":3})");
  CHECK(h.last() == R"({"jsonrpc":"2.0","result":{"files":[]},"id":3})");
}

TEST_CASE("stat_file_answers_exists_and_errors", "[rpc][files]") {
  Harness h;
  h.send(R"({"jsonrpc":"2.0","method":"stat_file","params":{"path":"/workspace/src"},"id":2})");
  CHECK(
      h.last() ==
      R"({"jsonrpc":"2.0","result":{"exists":true,"name":"src","size":4096,"mode":2147484141,"mod_time":"2024-06-10T06:13:20Z","is_dir":true,"is_symlink":false},"id":2})");
  h.send(R"({"jsonrpc":"2.0","method":"stat_file","params":{"path":"/missing"},"id":3})");
  CHECK(h.last() == R"({"jsonrpc":"2.0","result":{"exists":false},"id":3})");
  h.send(R"({"jsonrpc":"2.0","method":"stat_file","params":{"path":"/denied"},"id":4})");
  CHECK(
      h.last() ==
      R"({"jsonrpc":"2.0","error":{"code":-32002,"message":"stat /denied: permission denied"},"id":4})");
  h.send(R"({"jsonrpc":"2.0","method":"stat_file","params":{"path":"rel"},"id":5})");
  CHECK(
      h.last() ==
      R"({"jsonrpc":"2.0","error":{"code":-32602,"message":"invalid path: must be an absolute guest path"},"id":5})");
}

TEST_CASE("make_dir_remove_file_rename_file_pass_their_params", "[rpc][files]") {
  Harness h;
  h.send(R"({"jsonrpc":"2.0","method":"make_dir","params":{"path":"/a/b"},"id":2})");
  CHECK(h.last() == R"({"jsonrpc":"2.0","result":{},"id":2})");
  h.send(
      R"({"jsonrpc":"2.0","method":"make_dir","params":{"path":"/c","mode":448,"parents":false},"id":3})");
  REQUIRE(h.vm->dirs.size() == 2);
  CHECK((h.vm->dirs[0].path == "/a/b" && h.vm->dirs[0].mode == 0755 && h.vm->dirs[0].parents));
  CHECK((h.vm->dirs[1].path == "/c" && h.vm->dirs[1].mode == 0700 && !h.vm->dirs[1].parents));
  h.send(R"({"jsonrpc":"2.0","method":"make_dir","params":{"path":"/c","mode":"0755"},"id":4})");
  CHECK(
      h.last() ==
      R"x({"jsonrpc":"2.0","error":{"code":-32602,"message":"invalid mode: must be an integer from 0 to 4095 (0o7777)"},"id":4})x");
  CHECK(h.vm->dirs.size() == 2);

  h.send(
      R"({"jsonrpc":"2.0","method":"remove_file","params":{"path":"/t","recursive":true},"id":5})");
  CHECK(h.last() == R"({"jsonrpc":"2.0","result":{},"id":5})");
  h.send(R"({"jsonrpc":"2.0","method":"remove_file","params":{"path":"/gone"},"id":6})");
  CHECK(
      h.last() ==
      R"({"jsonrpc":"2.0","error":{"code":-32002,"message":"remove /gone: No such file or directory"},"id":6})");
  CHECK(h.vm->removed == std::vector<std::pair<std::string, bool>>{{"/t", true}, {"/gone", false}});

  h.send(
      R"({"jsonrpc":"2.0","method":"rename_file","params":{"old_path":"/x","new_path":"/y"},"id":7})");
  CHECK(h.last() == R"({"jsonrpc":"2.0","result":{},"id":7})");
  h.send(R"({"jsonrpc":"2.0","method":"rename_file","params":{"old_path":"/x"},"id":8})");
  CHECK(
      h.last() ==
      R"({"jsonrpc":"2.0","error":{"code":-32602,"message":"invalid new_path: required"},"id":8})");
  CHECK(h.vm->renamed == std::vector<std::pair<std::string, std::string>>{{"/x", "/y"}});
}

TEST_CASE("file_methods_need_a_vm", "[rpc][files]") {
  uv_loop_t loop{};
  uv_loop_init(&loop);
  auto out = std::make_shared<Lines>();
  auto s = Session::create(&loop, out, [](sandbox::SandboxOptions, VmCreateCallback) {});
  for (const char* m :
       {"write_file", "read_file", "list_files", "stat_file", "make_dir", "remove_file"}) {
    s->handle_input(std::string(R"({"jsonrpc":"2.0","method":")") + m +
                    R"(","params":{"path":"/a"},"id":2})" + "\n");
    CHECK(out->last() ==
          R"({"jsonrpc":"2.0","error":{"code":-32000,"message":"VM not created"},"id":2})");
  }
  s.reset();
  uv_run(&loop, UV_RUN_NOWAIT);
  uv_loop_close(&loop);
}

TEST_CASE("file_events_are_notifications_dropped_when_the_client_is_slow", "[rpc][files]") {
  Harness h;
  REQUIRE(h.vm->on_event);
  vfs::FileOperation op;
  op.op = vfs::FileOp::kCreate;
  op.path = "/workspace/new";
  op.mode = 0644;
  h.vm->on_event(sandbox::FileEvent{op, 0});
  CHECK(h.last().rfind(R"({"jsonrpc":"2.0","method":"event","params":{"type":"file","timestamp":)",
                       0) == 0);
  CHECK(h.last().find(R"("file":{"op":"create","path":"/workspace/new","size":0,"mode":420}})") !=
        std::string::npos);
  // A client that does not read: at most kMaxEventsInFlight lines wait, the rest are dropped.
  h.out->hold_writes = true;
  const size_t before = h.out->lines.size();
  for (size_t i = 0; i < Session::kMaxEventsInFlight + 10; ++i)
    h.vm->on_event(sandbox::FileEvent{op, 0});
  CHECK(h.out->lines.size() - before == Session::kMaxEventsInFlight);
  for (auto& done : h.out->held) done(true);
  h.out->held.clear();
  h.vm->on_event(sandbox::FileEvent{op, 0});
  CHECK(h.out->lines.size() - before == Session::kMaxEventsInFlight + 1);
}
