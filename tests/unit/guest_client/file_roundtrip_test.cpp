// Host file streams against the real agent file sessions (InProcessAgent over a socketpair):
// both ends of the protocol together, with payloads larger than the credit window.
#include <sys/socket.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "guest_agent/in_process_agent.h"
#include "guest_client/guest_connection.h"

using namespace matchlock;
using matchlock::testing::InProcessAgent;

namespace {

struct Rig {
  uv_loop_t loop{};
  std::shared_ptr<guest_client::GuestConnection> conn;
  std::unique_ptr<InProcessAgent> agent;
  std::optional<Error> lost;
  std::filesystem::path dir;

  Rig() {
    uv_loop_init(&loop);
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    conn = guest_client::GuestConnection::create(&loop, UniqueFd(sv[0]),
                                                 [this](const Error& e) { lost = e; });
    agent = std::make_unique<InProcessAgent>(UniqueFd(sv[1]));
    std::string t = (std::filesystem::temp_directory_path() / "ml-roundtrip-XXXXXX").string();
    REQUIRE(::mkdtemp(t.data()));
    dir = t;
  }
  ~Rig() {
    conn->close(Error(ErrorCode::kCancelled, "test over"));
    conn.reset();
    agent.reset();
    for (int i = 0; i < 10; ++i) uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    std::filesystem::remove_all(dir);
  }
  template <typename F>
  void run_until(F done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < deadline) uv_run(&loop, UV_RUN_ONCE);
  }
};

}  // namespace

TEST_CASE("files written through the agent read back the same", "[files][roundtrip]") {
  Rig rig;
  std::string path = (rig.dir / "a/b/data.bin").string();
  std::string data;
  for (int i = 0; i < 700'000; ++i) data.push_back(static_cast<char>(i * 31));

  std::optional<Status> wrote;
  rig.conn->write_file({.path = path, .mode = 0640}, data, [&](Status st) { wrote = st; });
  rig.run_until([&] { return wrote.has_value(); });
  REQUIRE(wrote);
  REQUIRE(wrote->ok());

  std::optional<Result<guest_client::FileReadResult>> read;
  rig.conn->read_file(path, 0, 1 << 30, [&](auto r) { read = std::move(r); });
  rig.run_until([&] { return read.has_value(); });
  REQUIRE(read);
  REQUIRE(read->ok());
  CHECK((*read)->file_size == data.size());
  CHECK(((*read)->mode & 07777) == 0640);
  CHECK((*read)->data == data);

  std::optional<Result<guest_client::FileReadResult>> part;
  rig.conn->read_file(path, 100, 10, [&](auto r) { part = std::move(r); });
  rig.run_until([&] { return part.has_value(); });
  REQUIRE(part);
  REQUIRE(part->ok());
  CHECK((*part)->data == data.substr(100, 10));

  std::optional<Result<std::vector<guest_client::FileEntry>>> listed;
  rig.conn->list_files((rig.dir / "a/b").string(), [&](auto r) { listed = std::move(r); });
  rig.run_until([&] { return listed.has_value(); });
  REQUIRE(listed);
  REQUIRE(listed->ok());
  REQUIRE((*listed)->size() == 1);
  CHECK((**listed)[0].name == "data.bin");
  CHECK((**listed)[0].size == data.size());
  CHECK_FALSE(rig.lost);
}

TEST_CASE("agent file errors reach the host with their kind and path", "[files][roundtrip]") {
  Rig rig;
  std::string missing = (rig.dir / "nope").string();
  std::optional<Result<guest_client::FileReadResult>> read;
  rig.conn->read_file(missing, 0, 10, [&](auto r) { read = std::move(r); });
  rig.run_until([&] { return read.has_value(); });
  REQUIRE(read);
  REQUIRE_FALSE(read->ok());
  CHECK(read->error().code == ErrorCode::kNotFound);
  CHECK(read->error().message == "open " + missing + ": No such file or directory");

  std::optional<Result<guest_client::FileReadResult>> dir_read;
  rig.conn->read_file(rig.dir.string(), 0, 10, [&](auto r) { dir_read = std::move(r); });
  rig.run_until([&] { return dir_read.has_value(); });
  REQUIRE(dir_read);
  REQUIRE_FALSE(dir_read->ok());
  CHECK(dir_read->error().code == ErrorCode::kInvalidArgument);
  CHECK_FALSE(rig.lost);
}
