// Start times in the state schema, compare-and-set status transitions, and reconcile on read.
#include "state/reconcile.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "core/process_identity.h"
#include "state/migrations.h"
#include "state/sqlite_handle.h"
#include "state/state_store.h"

namespace fs = std::filesystem;
using matchlock::ErrorCode;
using matchlock::ProcessIdentity;
using matchlock::state::SandboxRow;
using matchlock::state::StateStore;
namespace status = matchlock::state::status;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "matchlock-reconcile-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::unique_ptr<StateStore> open_store(const fs::path& home) {
  auto store = StateStore::open(home);
  INFO((store.ok() ? std::string() : store.error().message));
  REQUIRE(store.ok());
  return std::move(store).value();
}

// The pid of a process that has exited and been reaped: dead, and (for a while) unused.
pid_t dead_pid() {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) ::_exit(0);
  REQUIRE(::waitpid(pid, nullptr, 0) == pid);
  return pid;
}

SandboxRow row_owned_by(const std::string& id, int64_t pid, int64_t start_time,
                        const char* row_status = status::kRunning) {
  SandboxRow row;
  row.id = id;
  row.status = row_status;
  row.image = "alpine:latest";
  row.owner_pid = pid;
  row.owner_start_time = start_time;
  row.created_unix = 1700000000;
  return row;
}

SandboxRow stored(StateStore& store, const std::string& id) {
  auto row = store.get_sandbox(id);
  REQUIRE(row.ok());
  REQUIRE(row->has_value());
  return **row;
}

uint64_t own_start_time() {
  return ProcessIdentity::of(::getpid())->start_time;
}

}  // namespace

TEST_CASE("insert records the owner's start time when the caller gives none", "[state]") {
  TempDir tmp;
  auto store = open_store(tmp.path);
  REQUIRE(store->insert_sandbox(row_owned_by("vm-own00001", ::getpid(), 0)).ok());
  CHECK(stored(*store, "vm-own00001").owner_start_time == static_cast<int64_t>(own_start_time()));
  // A given start time is kept as given; a dead pid records "unknown".
  REQUIRE(store->insert_sandbox(row_owned_by("vm-own00002", ::getpid(), 12345)).ok());
  CHECK(stored(*store, "vm-own00002").owner_start_time == 12345);
  REQUIRE(store->insert_sandbox(row_owned_by("vm-own00003", dead_pid(), 0)).ok());
  CHECK(stored(*store, "vm-own00003").owner_start_time == 0);
}

TEST_CASE("set_qemu_pid records QEMU's start time when the caller gives none", "[state]") {
  TempDir tmp;
  auto store = open_store(tmp.path);
  REQUIRE(store->insert_sandbox(row_owned_by("vm-qemu0001", ::getpid(), 0)).ok());
  REQUIRE(store->set_qemu_pid("vm-qemu0001", ::getpid()).ok());
  SandboxRow row = stored(*store, "vm-qemu0001");
  CHECK(row.qemu_pid == ::getpid());
  CHECK(row.qemu_start_time == static_cast<int64_t>(own_start_time()));
  REQUIRE(store->set_qemu_pid("vm-qemu0001", 4321, 777).ok());
  CHECK(stored(*store, "vm-qemu0001").qemu_start_time == 777);
}

TEST_CASE("a version 1 database gains start time columns, rows intact", "[state]") {
  TempDir tmp;
  {
    auto db = matchlock::state::sqlite::open_db(tmp.path / "state.db");
    REQUIRE(db.ok());
    REQUIRE(matchlock::state::apply_migrations(db->get(),
                                               matchlock::state::builtin_migrations().first(1))
                .ok());
    REQUIRE(matchlock::state::sqlite::exec(
                db->get(),
                "INSERT INTO sandboxes(id, status, image, owner_pid, qemu_pid, created_at, "
                "config_json) VALUES ('vm-old00001', 'stopped', 'busybox', 10, 11, 1700000000, "
                "'{}')")
                .ok());
  }
  auto store = open_store(tmp.path);
  CHECK(store->schema_version() >= 2);
  SandboxRow row = stored(*store, "vm-old00001");
  CHECK(row.owner_pid == 10);
  CHECK(row.qemu_pid == 11);
  CHECK(row.owner_start_time == 0);
  CHECK(row.qemu_start_time == 0);
}

TEST_CASE("transition_status moves only from an expected status", "[state]") {
  TempDir tmp;
  auto store = open_store(tmp.path);
  REQUIRE(store->insert_sandbox(row_owned_by("vm-cas00001", 1, 1)).ok());
  auto moved = store->transition_status("vm-cas00001", {status::kStopped}, status::kCrashed, "x");
  REQUIRE(moved.ok());
  CHECK_FALSE(*moved);
  CHECK(stored(*store, "vm-cas00001").status == status::kRunning);

  moved = store->transition_status("vm-cas00001", {status::kCreating, status::kRunning},
                                   status::kCrashed, "owner gone");
  REQUIRE(moved.ok());
  CHECK(*moved);
  CHECK(stored(*store, "vm-cas00001").status == status::kCrashed);
  auto history = store->lifecycle("vm-cas00001");
  REQUIRE(history.ok());
  REQUIRE(history->size() == 1);
  CHECK(history->back().phase == "crashed");
  CHECK(history->back().detail == "owner gone");

  auto unknown = store->transition_status("vm-nope0000", {status::kRunning}, status::kCrashed, "");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().code == ErrorCode::kNotFound);
}

TEST_CASE("reconcile keeps a sandbox whose owner is alive", "[state][reconcile]") {
  TempDir tmp;
  auto store = open_store(tmp.path);
  REQUIRE(store->insert_sandbox(row_owned_by("vm-live0001", ::getpid(), 0)).ok());
  auto row = matchlock::state::get_reconciled(*store, "vm-live0001");
  REQUIRE(row.ok());
  REQUIRE(row->has_value());
  CHECK((*row)->status == status::kRunning);
  CHECK(stored(*store, "vm-live0001").status == status::kRunning);
}

TEST_CASE("reconcile marks a sandbox crashed when its owner is dead", "[state][reconcile]") {
  TempDir tmp;
  auto store = open_store(tmp.path);
  const pid_t gone = dead_pid();
  REQUIRE(store->insert_sandbox(row_owned_by("vm-dead0001", gone, 555)).ok());
  REQUIRE(store->insert_sandbox(row_owned_by("vm-dead0002", gone, 555, status::kCreating)).ok());
  auto rows = matchlock::state::list_reconciled(*store);
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 2);
  for (const auto& r : *rows) CHECK(r.status == status::kCrashed);
  CHECK(stored(*store, "vm-dead0001").status == status::kCrashed);
  CHECK(stored(*store, "vm-dead0002").status == status::kCrashed);
  auto history = store->lifecycle("vm-dead0001");
  REQUIRE(history.ok());
  REQUIRE_FALSE(history->empty());
  CHECK(history->back().detail == "owner process " + std::to_string(gone) + " is gone");
}

TEST_CASE("reconcile treats a recycled owner pid as a dead owner", "[state][reconcile]") {
  TempDir tmp;
  auto store = open_store(tmp.path);
  // Our own pid, but recorded with another start time: some earlier process that had it.
  REQUIRE(
      store->insert_sandbox(row_owned_by("vm-reuse001", ::getpid(), own_start_time() + 1)).ok());
  auto row = matchlock::state::get_reconciled(*store, "vm-reuse001");
  REQUIRE(row.ok());
  CHECK((*row)->status == status::kCrashed);
  CHECK_FALSE(matchlock::state::owner_alive(**row));
}

TEST_CASE("reconcile leaves stopped rows alone and unknown ids empty", "[state][reconcile]") {
  TempDir tmp;
  auto store = open_store(tmp.path);
  REQUIRE(store->insert_sandbox(row_owned_by("vm-stop0001", dead_pid(), 9, status::kStopped)).ok());
  auto row = matchlock::state::get_reconciled(*store, "vm-stop0001");
  REQUIRE(row.ok());
  CHECK((*row)->status == status::kStopped);
  auto history = store->lifecycle("vm-stop0001");
  REQUIRE(history.ok());
  CHECK(history->empty());
  auto missing = matchlock::state::get_reconciled(*store, "vm-missing1");
  REQUIRE(missing.ok());
  CHECK_FALSE(missing->has_value());
}

TEST_CASE("a legacy row without start times is judged by pid existence", "[state][reconcile]") {
  TempDir tmp;
  auto store = open_store(tmp.path);
  SandboxRow alive = row_owned_by("vm-legacy01", ::getpid(), 0);
  alive.owner_start_time = 0;
  CHECK(matchlock::state::owner_alive(alive));
  SandboxRow dead = row_owned_by("vm-legacy02", dead_pid(), 0);
  CHECK_FALSE(matchlock::state::owner_alive(dead));
}
