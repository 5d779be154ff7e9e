// save_guest_state / load_guest_state against a real QEMU (no scripted QMP): a microvm held at
// -S, with a vhost-user-fs device served by the engine's own back-end (VfsService), is saved to
// a file and loaded into a second QEMU started with "-incoming defer", which then resumes.
// Damaged files must fail the load with an error, not hang. No guest boots, so this is fast.
// Skipped (with a warning) without qemu-system-x86_64 >= 9.1 (migrate-incoming's
// exit-on-error; older QEMUs cannot migrate vhost-user-fs at all before 9.0).
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>

#include "temp_dir.h"
#include "vfs/mount_table.h"
#include "vfs/vfs_service.h"
#include "vm/guest_migration.h"
#include "vm/qemu_command.h"
#include "vm/qemu_process.h"
#include "vm/qmp_client.h"

using matchlock::testing::TempDir;

using namespace matchlock;
namespace fs = std::filesystem;

namespace {

constexpr auto kTimeout = std::chrono::seconds(60);

// "QEMU emulator version 10.0.2 (...)": {10, 0}; nullopt when QEMU is missing.
std::optional<std::pair<int, int>> qemu_version() {
  FILE* p = ::popen((std::string(vm::kQemuBinary) + " --version 2>/dev/null").c_str(), "r");
  if (!p) return std::nullopt;
  std::string out;
  char buf[256];
  while (size_t n = std::fread(buf, 1, sizeof(buf), p)) out.append(buf, n);
  ::pclose(p);
  std::smatch m;
  if (!std::regex_search(out, m, std::regex(R"(version (\d+)\.(\d+))"))) return std::nullopt;
  return std::make_pair(std::stoi(m[1]), std::stoi(m[2]));
}

bool qemu_can_migrate_vhost_user_fs() {
  auto v = qemu_version();
  if (!v) {
    WARN("qemu-system-x86_64 not found: skipped");
    return false;
  }
  if (*v < std::make_pair(9, 1)) {
    WARN("QEMU " << v->first << "." << v->second << " is older than 9.1: skipped");
    return false;
  }
  return true;
}

struct Loop {
  uv_loop_t loop{};
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    for (int i = 0; i < 10; ++i) uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
  }
  // Pumps the loop until `done` or the deadline (QEMU runs alongside, in its own process).
  template <typename F>
  bool run_until(F done, std::chrono::seconds limit = std::chrono::seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      uv_run(&loop, UV_RUN_NOWAIT);
      if (!done()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }
};

// One QEMU held before its first instruction, with QMP and a vhost-user-fs device whose
// back-end is a VfsService on the test's loop, both over socketpairs.
class PausedQemu {
 public:
  PausedQemu(Loop& loop, const fs::path& dir, const std::string& name, bool incoming)
      : loop_(loop), log_(dir / (name + ".log")) {
    int qmp[2], vfs[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qmp) == 0);
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, vfs) == 0);
    UniqueFd qmp_theirs(qmp[1]), vfs_theirs(vfs[1]);
    auto service =
        vfs::VfsService::start(&loop.loop, UniqueFd(vfs[0]), *vfs::MountTable::create({}),
                               "/workspace", nullptr, [this](const Error& e) { vfs_lost = e; });
    REQUIRE(service);
    vfs_ = std::move(*service);
    qmp_ = std::make_unique<vm::QmpClient>(&loop.loop, UniqueFd(qmp[0]),
                                           [this](Status st) { ready = st; });
    // The machine sandboxes use (qemu_argv), minus kernel and disks: microvm, qboot, QEMU's
    // seccomp filter, shared memfd RAM (the back-end maps it), the same virtio-fs device.
    std::vector<std::string> argv = {
        vm::kQemuBinary,
        "-M",
        "microvm,x-option-roms=off,memory-backend=ram",
        "-bios",
        "qboot.rom",
        "-nodefaults",
        "-no-user-config",
        "-nographic",
        "-no-reboot",
        "-sandbox",
        "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
        "-accel",
        "tcg",
        "-S",
        "-object",
        "memory-backend-memfd,id=ram,size=64M,share=on",
        "-m",
        "64M",
        "-chardev",
        "socket,id=qmp,fd=" + std::to_string(vm::kQmpFd),
        "-mon",
        "chardev=qmp,mode=control",
        "-chardev",
        "socket,id=vfs,fd=" + std::to_string(vm::kVfsFd),
        "-device",
        "vhost-user-fs-device,chardev=vfs,tag=matchlock,queue-size=1024"};
    if (incoming) argv.insert(argv.end(), {"-incoming", "defer"});
    UniqueFd log(::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    REQUIRE(log);
    auto proc = vm::QemuProcess::spawn(
        &loop.loop, argv, {{vm::kQmpFd, qmp_theirs.get()}, {vm::kVfsFd, vfs_theirs.get()}},
        log.get(), vm::Confinement{}, [this](vm::ExitInfo info) { exited = info; });
    REQUIRE(proc);
    proc_ = std::move(*proc);
    INFO(output());
    REQUIRE(loop.run_until([&] { return ready.has_value() || exited.has_value(); }));
    REQUIRE(ready);
    REQUIRE(ready->ok());
  }

  vm::QmpClient& qmp() { return *qmp_; }
  std::string output() const {
    std::ifstream in(log_);
    return "QEMU said: " + std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::string status() {
    std::optional<Result<vm::VmStatus>> got;
    qmp_->query_status([&](Result<vm::VmStatus> r) { got = std::move(r); });
    REQUIRE(loop_.run_until([&] { return got.has_value(); }));
    REQUIRE(got->ok());
    return got->value().status;
  }

  Status run(void (*op)(vm::QmpClient&, const fs::path&, std::chrono::milliseconds,
                        std::function<void(Status)>),
             const fs::path& file) {
    std::optional<Status> result;
    op(*qmp_, file, kTimeout, [&](Status st) { result = std::move(st); });
    // The operation's own timeout ends it; this bound only keeps a broken test from hanging.
    REQUIRE(loop_.run_until([&] { return result.has_value(); }, std::chrono::seconds(90)));
    return *result;
  }

  std::optional<Status> ready;
  std::optional<vm::ExitInfo> exited;
  std::optional<Error> vfs_lost;

 private:
  Loop& loop_;
  fs::path log_;
  std::unique_ptr<vfs::VfsService> vfs_;
  std::unique_ptr<vm::QmpClient> qmp_;
  std::unique_ptr<vm::QemuProcess> proc_;
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

}  // namespace

TEST_CASE("a paused guest with virtio-fs is saved to a file and loaded by another QEMU",
          "[migration][qemu]") {
  if (!qemu_can_migrate_vhost_user_fs()) return;
  Loop loop;
  TempDir dir;
  // A comma (an option separator in a "file:" URI) is only part of the name.
  fs::create_directory(dir.path / "home,offset=4096");
  const fs::path state = dir.path / "home,offset=4096" / "guest.state";

  {
    PausedQemu source(loop, dir.path, "source", false);
    CHECK(source.status() == "prelaunch");
    Status saved = source.run(vm::save_guest_state, state);
    INFO(source.output());
    INFO((saved.ok() ? std::string() : saved.error().message));
    REQUIRE(saved.ok());
    CHECK(source.status() == "postmigrate");  // stopped for the save, and it stays so
    // The saving host goes on with its own guest afterwards.
    std::optional<Result<std::string>> cont;
    source.qmp().execute("cont", [&](Result<std::string> r) { cont = std::move(r); });
    REQUIRE(loop.run_until([&] { return cont.has_value(); }));
    REQUIRE(cont->ok());
    CHECK(source.status() == "running");
    CHECK_FALSE(source.vfs_lost);
  }
  const std::string bytes = read_file(state);
  REQUIRE(bytes.size() > 64 * 1024);  // the guest's RAM is in there
  // The virtio-fs back-end's own record travelled inside the stream.
  REQUIRE(bytes.find("MLVFS") != std::string::npos);

  PausedQemu target(loop, dir.path, "target", true);
  CHECK(target.status() == "inmigrate");
  Status loaded = target.run(vm::load_guest_state, state);
  INFO(target.output());
  INFO((loaded.ok() ? std::string() : loaded.error().message));
  REQUIRE(loaded.ok());
  // Loaded, not running: the run state the source had when it was stopped comes along
  // ("prelaunch" for this never-started source; "paused" for a guest stopped while running).
  const std::string after_load = target.status();
  CHECK((after_load == "prelaunch" || after_load == "paused"));
  std::optional<Result<std::string>> cont;
  target.qmp().execute("cont", [&](Result<std::string> r) { cont = std::move(r); });
  REQUIRE(loop.run_until([&] { return cont.has_value(); }));
  REQUIRE(cont->ok());
  CHECK(target.status() == "running");
  CHECK_FALSE(target.vfs_lost);
}

TEST_CASE("a damaged or truncated guest state fails the load with an error", "[migration][qemu]") {
  if (!qemu_can_migrate_vhost_user_fs()) return;
  Loop loop;
  TempDir dir;
  const fs::path state = dir.path / "guest.state";
  {
    PausedQemu source(loop, dir.path, "source", false);
    REQUIRE(source.run(vm::save_guest_state, state).ok());
  }
  const std::string bytes = read_file(state);
  const size_t record = bytes.find("MLVFS");
  REQUIRE(record != std::string::npos);

  SECTION("the virtio-fs record is not one this engine writes") {
    std::string bad = bytes;
    bad[record + 5] = 99;  // the record's version
    write_file(state, bad);
  }
  SECTION("the file ends early") {
    write_file(state, bytes.substr(0, bytes.size() / 2));
  }
  SECTION("the file is not a migration stream at all") {
    write_file(state, std::string(4096, 'x'));
  }
  PausedQemu target(loop, dir.path, "target", true);
  const auto started = std::chrono::steady_clock::now();
  Status loaded = target.run(vm::load_guest_state, state);
  INFO(target.output());
  REQUIRE_FALSE(loaded.ok());
  INFO(loaded.error().message);  // QEMU's reason, e.g. "load of migration failed: ..."
  CHECK(loaded.error().message.find("loading the guest failed") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - started < kTimeout);  // QEMU said so: no timeout
  CHECK_FALSE(target.exited);  // exit-on-error off: QEMU stays to say why
}

TEST_CASE("an empty guest state path is refused", "[migration]") {
  Loop loop;
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  UniqueFd peer(sv[1]);
  vm::QmpClient qmp(&loop.loop, UniqueFd(sv[0]), [](Status) {});
  std::optional<Status> got;
  vm::save_guest_state(qmp, "", kTimeout, [&](Status st) { got = std::move(st); });
  REQUIRE(got);
  CHECK_FALSE(got->ok());
  got.reset();
  vm::load_guest_state(qmp, "", kTimeout, [&](Status st) { got = std::move(st); });
  REQUIRE(got);
  CHECK_FALSE(got->ok());
}
