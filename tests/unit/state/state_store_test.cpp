#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "state/migrations.h"
#include "state/sqlite_handle.h"
#include "state/state_store.h"

namespace fs = std::filesystem;
using matchlock::ErrorCode;
using matchlock::state::SandboxRow;
using matchlock::state::StateStore;

namespace {

// A fresh directory under the system temp dir, removed at scope exit.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "matchlock-state-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

SandboxRow make_row(const std::string& id) {
  SandboxRow row;
  row.id = id;
  row.status = "creating";
  row.image = "alpine:latest";
  row.owner_pid = 4242;
  row.created_unix = 1700000000;
  row.config_json = R"({"cpus":1})";
  return row;
}

std::unique_ptr<StateStore> open_store(const fs::path& home) {
  auto store = StateStore::open(home);
  INFO((store.ok() ? std::string() : store.error().message));
  REQUIRE(store.ok());
  return std::move(store).value();
}

int mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return static_cast<int>(st.st_mode & 07777);
}

// Runs one query on a separate raw connection and returns the first column of the first row.
std::string query_one(const fs::path& db_path, const std::string& sql) {
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open_v2(db_path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  matchlock::state::sqlite::DbPtr db(raw);
  auto stmt = matchlock::state::sqlite::Statement::prepare(db.get(), sql);
  REQUIRE(stmt.ok());
  auto row = stmt->step();
  REQUIRE(row.ok());
  REQUIRE(*row);
  return stmt->column_text(0);
}

int latest_builtin_version() {
  return matchlock::state::builtin_migrations().back().version;
}

}  // namespace

TEST_CASE("open creates a missing home 0700 and state.db 0600", "[state]") {
  TempDir tmp;
  const fs::path home = tmp.path / "nested" / "home";
  auto store = open_store(home);
  CHECK(mode_of(home) == 0700);
  CHECK(mode_of(home / "state.db") == 0600);
}

TEST_CASE("open leaves the mode of an existing home alone", "[state]") {
  TempDir tmp;
  fs::permissions(tmp.path, fs::perms(0755));
  auto store = open_store(tmp.path);
  CHECK(mode_of(tmp.path) == 0755);
}

TEST_CASE("open enables WAL and records every migration", "[state]") {
  TempDir tmp;
  auto store = open_store(tmp.path);
  const fs::path db = tmp.path / "state.db";
  CHECK(query_one(db, "PRAGMA journal_mode") == "wal");
  CHECK(store->schema_version() == latest_builtin_version());
  CHECK(query_one(db, "SELECT COUNT(*) FROM schema_migrations") ==
        std::to_string(matchlock::state::builtin_migrations().size()));
  CHECK(query_one(db, "SELECT name FROM schema_migrations WHERE version = 1") ==
        matchlock::state::builtin_migrations().front().name);
  CHECK(std::stoll(query_one(db, "SELECT applied_at FROM schema_migrations")) > 0);
}

TEST_CASE("reopening keeps the schema version and applies nothing twice", "[state]") {
  TempDir tmp;
  int first = 0;
  {
    auto store = open_store(tmp.path);
    first = store->schema_version();
    REQUIRE(store->insert_sandbox(make_row("vm-11111111")).ok());
  }
  auto again = open_store(tmp.path);
  CHECK(again->schema_version() == first);
  CHECK(query_one(tmp.path / "state.db", "SELECT COUNT(*) FROM schema_migrations") ==
        std::to_string(matchlock::state::builtin_migrations().size()));
  auto row = again->get_sandbox("vm-11111111");
  REQUIRE(row.ok());
  CHECK(row->has_value());
}

TEST_CASE("concurrent opens from threads all succeed with one migration history", "[state]") {
  TempDir tmp;
  constexpr int kOpeners = 6;
  std::vector<std::string> errors(kOpeners);
  std::vector<int> versions(kOpeners, -1);
  std::vector<std::thread> threads;
  for (int i = 0; i < kOpeners; ++i) {
    threads.emplace_back([&, i] {
      auto store = StateStore::open(tmp.path);
      if (!store.ok()) {
        errors[i] = store.error().message;
        return;
      }
      versions[i] = (*store)->schema_version();
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kOpeners; ++i) {
    INFO("opener " << i << ": " << errors[i]);
    CHECK(errors[i].empty());
    CHECK(versions[i] == latest_builtin_version());
  }
  CHECK(query_one(tmp.path / "state.db", "SELECT COUNT(*) FROM schema_migrations") ==
        std::to_string(matchlock::state::builtin_migrations().size()));
}

TEST_CASE("concurrent opens from separate processes all succeed", "[state]") {
  TempDir tmp;
  constexpr int kChildren = 4;
  std::vector<pid_t> children;
  for (int i = 0; i < kChildren; ++i) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      auto store = StateStore::open(tmp.path);
      const bool ok = store.ok() && (*store)->schema_version() == latest_builtin_version();
      ::_exit(ok ? 0 : 1);  // no Catch2 teardown in the child
    }
    children.push_back(pid);
  }
  auto own = StateStore::open(tmp.path);
  CHECK(own.ok());
  for (pid_t pid : children) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  CHECK(query_one(tmp.path / "state.db", "SELECT COUNT(*) FROM schema_migrations") ==
        std::to_string(matchlock::state::builtin_migrations().size()));
}

TEST_CASE("a failing migration rolls back and leaves the version unchanged", "[state]") {
  TempDir tmp;
  auto db = matchlock::state::sqlite::open_db(tmp.path / "m.db");
  REQUIRE(db.ok());
  const matchlock::state::Migration migrations[] = {
      {1, "good", "CREATE TABLE a(x INTEGER);"},
      {2, "bad", "CREATE TABLE b(x INTEGER); THIS IS NOT SQL;"},
  };
  auto st = matchlock::state::apply_migrations(db->get(), migrations);
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.error().message, Catch::Contains("migration 2 (bad)"));
  auto version = matchlock::state::current_schema_version(db->get());
  REQUIRE(version.ok());
  CHECK(*version == 1);
  // Table b was created inside the failed transaction, so it must be gone.
  CHECK_FALSE(matchlock::state::sqlite::exec(db->get(), "SELECT * FROM b").ok());
  CHECK(matchlock::state::sqlite::exec(db->get(), "SELECT * FROM a").ok());
}

TEST_CASE("a database newer than the code is refused", "[state]") {
  TempDir tmp;
  auto db = matchlock::state::sqlite::open_db(tmp.path / "m.db");
  REQUIRE(db.ok());
  const matchlock::state::Migration v1[] = {{1, "one", "CREATE TABLE a(x);"}};
  const matchlock::state::Migration v2[] = {{1, "one", "CREATE TABLE a(x);"},
                                            {2, "two", "CREATE TABLE b(x);"}};
  REQUIRE(matchlock::state::apply_migrations(db->get(), v2).ok());
  auto st = matchlock::state::apply_migrations(db->get(), v1);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == ErrorCode::kUnsupported);
  CHECK_THAT(st.error().message, Catch::Contains("schema version 2 is newer"));
}

TEST_CASE("open fails with a one-line message naming state.db", "[state]") {
  TempDir tmp;
  const fs::path home = tmp.path / "home";
  fs::create_directories(home / "state.db");  // a directory where the file should be
  auto store = StateStore::open(home);
  REQUIRE_FALSE(store.ok());
  const std::string& msg = store.error().message;
  CHECK_THAT(msg, Catch::StartsWith("state: open " + (home / "state.db").string() + ": "));
  CHECK(msg.find('\n') == std::string::npos);
}

TEST_CASE("inserted sandbox reads back field for field", "[state]") {
  TempDir tmp;
  auto store = open_store(tmp.path);
  SandboxRow in = make_row("vm-abcdef01");
  in.qemu_pid = 77;
  REQUIRE(store->insert_sandbox(in).ok());
  auto out = store->get_sandbox("vm-abcdef01");
  REQUIRE(out.ok());
  REQUIRE(out->has_value());
  const SandboxRow& row = **out;
  CHECK(row.id == in.id);
  CHECK(row.status == in.status);
  CHECK(row.image == in.image);
  CHECK(row.owner_pid == 4242);
  CHECK(row.qemu_pid == 77);
  CHECK(row.created_unix == 1700000000);
  CHECK(row.config_json == in.config_json);
}

TEST_CASE("insert without a creation time stamps now", "[state]") {
  TempDir tmp;
  auto store = open_store(tmp.path);
  SandboxRow in = make_row("vm-00000001");
  in.created_unix = 0;
  const auto before = static_cast<int64_t>(std::time(nullptr));
  REQUIRE(store->insert_sandbox(in).ok());
  auto out = store->get_sandbox(in.id);
  REQUIRE(out.ok());
  REQUIRE(out->has_value());
  CHECK((*out)->created_unix >= before);
}

TEST_CASE("inserting a duplicate id is AlreadyExists", "[state]") {
  TempDir tmp;
  auto store = open_store(tmp.path);
  REQUIRE(store->insert_sandbox(make_row("vm-dup00000")).ok());
  auto st = store->insert_sandbox(make_row("vm-dup00000"));
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == ErrorCode::kAlreadyExists);
  CHECK_THAT(st.error().message, Catch::StartsWith("state: insert sandbox vm-dup00000: "));
}

TEST_CASE("getting an unknown sandbox is an empty optional, not an error", "[state]") {
  TempDir tmp;
  auto store = open_store(tmp.path);
  auto out = store->get_sandbox("vm-missing0");
  REQUIRE(out.ok());
  CHECK_FALSE(out->has_value());
}

TEST_CASE("set_status and set_qemu_pid update the row", "[state]") {
  TempDir tmp;
  auto store = open_store(tmp.path);
  REQUIRE(store->insert_sandbox(make_row("vm-upd00000")).ok());
  REQUIRE(store->set_qemu_pid("vm-upd00000", 999).ok());
  REQUIRE(store->set_status("vm-upd00000", "running").ok());
  auto out = store->get_sandbox("vm-upd00000");
  REQUIRE(out.ok());
  REQUIRE(out->has_value());
  CHECK((*out)->qemu_pid == 999);
  CHECK((*out)->status == "running");
}

TEST_CASE("updating an unknown sandbox is NotFound", "[state]") {
  TempDir tmp;
  auto store = open_store(tmp.path);
  auto st = store->set_status("vm-nope0000", "running");
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == ErrorCode::kNotFound);
  CHECK(st.error().message == "state: set status of vm-nope0000: no such sandbox");
  auto pid = store->set_qemu_pid("vm-nope0000", 1);
  REQUIRE_FALSE(pid.ok());
  CHECK(pid.error().code == ErrorCode::kNotFound);
}

TEST_CASE("list returns every sandbox oldest first", "[state]") {
  TempDir tmp;
  auto store = open_store(tmp.path);
  SandboxRow newer = make_row("vm-aaaaaaaa");
  newer.created_unix = 200;
  SandboxRow older = make_row("vm-bbbbbbbb");
  older.created_unix = 100;
  REQUIRE(store->insert_sandbox(newer).ok());
  REQUIRE(store->insert_sandbox(older).ok());
  auto rows = store->list_sandboxes();
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 2);
  CHECK((*rows)[0].id == "vm-bbbbbbbb");
  CHECK((*rows)[1].id == "vm-aaaaaaaa");
}

TEST_CASE("lifecycle history is appended in order", "[state]") {
  TempDir tmp;
  auto store = open_store(tmp.path);
  REQUIRE(store->insert_sandbox(make_row("vm-life0000")).ok());
  REQUIRE(store->append_lifecycle("vm-life0000", "creating", "").ok());
  REQUIRE(store->append_lifecycle("vm-life0000", "running", "qemu pid 12").ok());
  auto rows = store->lifecycle("vm-life0000");
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 2);
  CHECK((*rows)[0].phase == "creating");
  CHECK((*rows)[1].phase == "running");
  CHECK((*rows)[1].detail == "qemu pid 12");
  CHECK((*rows)[0].seq < (*rows)[1].seq);
  CHECK((*rows)[1].at_unix > 0);
}

TEST_CASE("lifecycle for an unknown sandbox is NotFound", "[state]") {
  TempDir tmp;
  auto store = open_store(tmp.path);
  auto st = store->append_lifecycle("vm-ghost000", "running", "");
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == ErrorCode::kNotFound);
}

TEST_CASE("remove_sandbox deletes the row and its lifecycle history", "[state]") {
  TempDir tmp;
  auto store = open_store(tmp.path);
  REQUIRE(store->insert_sandbox(make_row("vm-gone0000")).ok());
  REQUIRE(store->insert_sandbox(make_row("vm-kept0000")).ok());
  REQUIRE(store->append_lifecycle("vm-gone0000", "creating", "").ok());
  REQUIRE(store->append_lifecycle("vm-kept0000", "creating", "").ok());
  REQUIRE(store->remove_sandbox("vm-gone0000").ok());

  auto gone = store->get_sandbox("vm-gone0000");
  REQUIRE(gone.ok());
  CHECK_FALSE(gone->has_value());
  CHECK(query_one(tmp.path / "state.db",
                  "SELECT COUNT(*) FROM lifecycle WHERE sandbox_id = 'vm-gone0000'") == "0");
  auto kept = store->lifecycle("vm-kept0000");
  REQUIRE(kept.ok());
  CHECK(kept->size() == 1);
}

TEST_CASE("removing an unknown sandbox is NotFound", "[state]") {
  TempDir tmp;
  auto store = open_store(tmp.path);
  auto st = store->remove_sandbox("vm-nope0000");
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == ErrorCode::kNotFound);
  CHECK(st.error().message == "state: remove sandbox vm-nope0000: no such sandbox");
}

TEST_CASE("ids and values with quotes are stored verbatim", "[state]") {
  TempDir tmp;
  auto store = open_store(tmp.path);
  SandboxRow in = make_row("vm-'; DROP TABLE sandboxes; --");
  in.image = "img\"with'quotes";
  REQUIRE(store->insert_sandbox(in).ok());
  auto out = store->get_sandbox(in.id);
  REQUIRE(out.ok());
  REQUIRE(out->has_value());
  CHECK((*out)->image == in.image);
}

TEST_CASE("two stores on the same home see each other's writes", "[state]") {
  TempDir tmp;
  auto a = open_store(tmp.path);
  auto b = open_store(tmp.path);
  REQUIRE(a->insert_sandbox(make_row("vm-shared00")).ok());
  REQUIRE(b->set_status("vm-shared00", "running").ok());
  auto out = a->get_sandbox("vm-shared00");
  REQUIRE(out.ok());
  REQUIRE(out->has_value());
  CHECK((*out)->status == "running");
}
