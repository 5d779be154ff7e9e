// CappedLog against a guest (or a QEMU it provokes) that writes more than the file may hold,
// through a real socketpair.
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "vm/capped_log.h"

using namespace matchlock;
using namespace matchlock::vm;

namespace {

struct ConsoleDir {
  std::filesystem::path path;
  ConsoleDir() {
    char tmpl[] = "/tmp/matchlock-console-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~ConsoleDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Console {
  uv_loop_t loop;
  UniqueFd guest;  // QEMU's end
  std::unique_ptr<CappedLog> log;
  Console(const std::filesystem::path& file, size_t cap) {
    uv_loop_init(&loop);
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    guest = UniqueFd(sv[1]);
    auto started = CappedLog::start(&loop, UniqueFd(sv[0]), file, cap, "the guest console");
    REQUIRE(started.ok());
    log = std::move(started.value());
  }
  ~Console() {
    log.reset();
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
  }
  // Writes `bytes` as the guest would, the loop reading as the socket fills.
  void guest_writes(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n =
          ::send(guest.get(), bytes.data(), std::min<size_t>(bytes.size(), 4096), MSG_DONTWAIT);
      if (n > 0) bytes.remove_prefix(static_cast<size_t>(n));
      uv_run(&loop, UV_RUN_NOWAIT);
    }
  }
};

}  // namespace

TEST_CASE("a console under its cap is written whole", "[vm][capped_log]") {
  ConsoleDir dir;
  const auto file = dir.path / "console.log";
  Console c(file, 1 << 20);
  c.guest_writes("booting\nready\n");
  c.log->read_pending_now();
  CHECK(read_file(file) == "booting\nready\n");
  CHECK_FALSE(c.log->truncated());
  CHECK(c.log->tail() == "booting\nready\n");
}

TEST_CASE("a flooding guest fills the console file to its cap, once noted, and no further",
          "[vm][capped_log]") {
  ConsoleDir dir;
  const auto file = dir.path / "console.log";
  constexpr size_t kCap = 64 << 10;
  Console c(file, kCap);
  std::string line(99, 'x');
  line += '\n';
  for (int i = 0; i < 5000; ++i) c.guest_writes(line);  // ~500 KB, eight times the cap
  c.guest_writes("Kernel panic - not syncing: the last words\n");
  c.log->read_pending_now();
  const std::string written = read_file(file);
  const std::string note = truncation_note("the guest console", kCap);
  CHECK(written.size() == kCap + note.size());
  CHECK(written.substr(kCap) == note);
  CHECK(c.log->truncated());
  // The tail goes on past the cap, bounded: a crash report still sees the panic.
  const std::string tail = c.log->tail();
  CHECK(tail.size() == kLogTailBytes);
  CHECK(tail.find("Kernel panic - not syncing: the last words\n") != std::string::npos);
}

TEST_CASE("the console tail keeps the newest bytes and stays bounded", "[vm][capped_log]") {
  std::string tail;
  for (int i = 0; i < 1000; ++i) keep_tail(tail, std::to_string(i) + "\n", 64);
  CHECK(tail.size() < 128);
  CHECK(tail.substr(tail.size() - 4) == "999\n");
  keep_tail(tail, std::string(200, 'z'), 64);
  CHECK(tail == std::string(64, 'z'));
}

TEST_CASE("QEMU closing the console ends the reading; what was written stays", "[vm][capped_log]") {
  ConsoleDir dir;
  const auto file = dir.path / "console.log";
  Console c(file, 1 << 20);
  c.guest_writes("last line\n");
  c.guest.reset();
  uv_run(&c.loop, UV_RUN_NOWAIT);
  c.log->read_pending_now();
  CHECK(read_file(file) == "last line\n");
  CHECK(c.log->tail() == "last line\n");
}

TEST_CASE("the truncation note names the writer and the cap", "[vm][capped_log]") {
  CHECK(truncation_note("QEMU", 1u << 20) ==
        "\n[matchlock: QEMU wrote more than 1 MiB; the rest is not kept in this file]\n");
  CHECK(truncation_note("the guest console", 64u << 10).find("more than 64 KiB;") !=
        std::string::npos);
}
