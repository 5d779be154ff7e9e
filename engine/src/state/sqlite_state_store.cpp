// StateStore on SQLite: the schema lives in migrations.cpp, this file maps rows to queries.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "core/process_identity.h"
#include "core/unique_fd.h"
#include "state/migrations.h"
#include "state/sqlite_handle.h"
#include "state/state_store.h"

namespace matchlock::state {
namespace {

constexpr int kBusyTimeoutMs = 5000;

Error state_error(const std::string& op, const Error& cause) {
  return cause.with_context("state: " + op);
}

// Creates the home directory 0700 when missing; an existing directory keeps its mode (it may
// be a user-chosen $MATCHLOCK_HOME such as a shared parent we must not tighten).
Status ensure_home(const std::filesystem::path& home) {
  std::error_code ec;
  if (std::filesystem::is_directory(home, ec)) return {};
  if (home.has_parent_path()) {
    std::filesystem::create_directories(home.parent_path(), ec);
    if (ec) return io_error(home.parent_path().string() + ": " + ec.message());
  }
  if (::mkdir(home.c_str(), 0700) != 0) {
    if (errno == EEXIST && std::filesystem::is_directory(home, ec)) return {};  // lost a race
    return io_error(home.string() + ": " + std::strerror(errno));
  }
  ::chmod(home.c_str(), 0700);  // the umask may have removed bits we asked for; never adds any
  return {};
}

// SQLite creates files with 0644 & ~umask; create state.db ourselves so it is 0600 from the
// start. SQLite gives the -wal and -shm files the database file's mode.
Status ensure_db_file(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return io_error(std::strerror(errno));
  if (::fchmod(fd.get(), 0600) != 0) return io_error(std::string("chmod: ") + std::strerror(errno));
  return {};
}

Status configure(sqlite3* db) {
  // busy_timeout first: switching to WAL needs a lock another opener may hold.
  if (sqlite3_busy_timeout(db, kBusyTimeoutMs) != SQLITE_OK) {
    return io_error(sqlite::last_error(db));
  }
  auto wal = sqlite::Statement::prepare(db, "PRAGMA journal_mode=WAL");
  if (!wal.ok()) return wal.error();
  auto row = wal->step();
  if (!row.ok()) return row.error();
  if (!*row || wal->column_text(0) != "wal") {
    return io_error("cannot enable WAL journal mode (got \"" + wal->column_text(0) + "\")");
  }
  MATCHLOCK_TRY(sqlite::exec(db, "PRAGMA foreign_keys=ON"));
  // NORMAL is durable enough in WAL mode: a power loss may drop the last commits, never corrupt.
  return sqlite::exec(db, "PRAGMA synchronous=NORMAL");
}

SandboxRow read_sandbox(const sqlite::Statement& stmt) {
  SandboxRow row;
  row.id = stmt.column_text(0);
  row.status = stmt.column_text(1);
  row.image = stmt.column_text(2);
  row.owner_pid = stmt.column_int64(3);
  row.qemu_pid = stmt.column_int64(4);
  row.created_unix = stmt.column_int64(5);
  row.config_json = stmt.column_text(6);
  row.owner_start_time = stmt.column_int64(7);
  row.qemu_start_time = stmt.column_int64(8);
  return row;
}

constexpr const char* kSelectSandbox =
    "SELECT id, status, image, owner_pid, qemu_pid, created_at, config_json, owner_start_time, "
    "qemu_start_time FROM sandboxes";

// The start time to record for `pid`: the caller's if given, else the live process's, else 0
// (unknown: such a pid is never trusted for signalling).
int64_t start_time_to_record(int64_t pid, int64_t given) {
  if (given != 0 || pid <= 0) return given;
  auto stat = read_proc_stat(static_cast<pid_t>(pid));
  return stat.ok() ? static_cast<int64_t>(stat->start_time) : 0;
}

class SqliteStateStore final : public StateStore {
 public:
  SqliteStateStore(sqlite::DbPtr db, int version) : db_(std::move(db)), version_(version) {}

  Status insert_sandbox(const SandboxRow& row) override {
    auto stmt = prepare(
        "INSERT INTO sandboxes(id, status, image, owner_pid, qemu_pid, created_at, config_json, "
        "owner_start_time, qemu_start_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    if (!stmt.ok()) return state_error("insert sandbox " + row.id, stmt.error());
    stmt->bind(1, row.id)
        .bind(2, row.status)
        .bind(3, row.image)
        .bind(4, row.owner_pid)
        .bind(5, row.qemu_pid)
        .bind(6,
              row.created_unix != 0 ? row.created_unix : static_cast<int64_t>(std::time(nullptr)))
        .bind(7, row.config_json)
        .bind(8, start_time_to_record(row.owner_pid, row.owner_start_time))
        .bind(9, start_time_to_record(row.qemu_pid, row.qemu_start_time));
    auto st = stmt->run();
    if (!st.ok()) return state_error("insert sandbox " + row.id, st.error());
    return {};
  }

  Status set_qemu_pid(const std::string& id, int64_t qemu_pid, int64_t qemu_start_time) override {
    auto stmt = prepare("UPDATE sandboxes SET qemu_pid = ?2, qemu_start_time = ?3 WHERE id = ?1");
    if (!stmt.ok()) return state_error("set qemu pid of " + id, stmt.error());
    stmt->bind(1, id).bind(2, qemu_pid).bind(3, start_time_to_record(qemu_pid, qemu_start_time));
    return run_on_existing(*stmt, "set qemu pid of " + id, id);
  }

  Status set_status(const std::string& id, const std::string& status) override {
    auto stmt = prepare("UPDATE sandboxes SET status = ?2 WHERE id = ?1");
    if (!stmt.ok()) return state_error("set status of " + id, stmt.error());
    stmt->bind(1, id).bind(2, status);
    return run_on_existing(*stmt, "set status of " + id, id);
  }

  Result<bool> transition_status(const std::string& id, const std::vector<std::string>& expected,
                                 const std::string& new_status,
                                 const std::string& detail) override {
    const std::string op = "set status of " + id;
    auto txn = sqlite::Transaction::begin(db_.get(), sqlite::Transaction::Mode::kImmediate);
    if (!txn.ok()) return state_error(op, txn.error());
    std::string status;
    {  // read under the write lock, and finish the read before writing
      auto current = prepare("SELECT status FROM sandboxes WHERE id = ?1");
      if (!current.ok()) return state_error(op, current.error());
      current->bind(1, id);
      auto row = current->step();
      if (!row.ok()) return state_error(op, row.error());
      if (!*row) return not_found("state: " + op + ": no such sandbox");
      status = current->column_text(0);
    }
    if (std::find(expected.begin(), expected.end(), status) == expected.end()) return false;
    MATCHLOCK_TRY(set_status(id, new_status));
    MATCHLOCK_TRY(append_lifecycle(id, new_status, detail));
    if (auto st = txn->commit(); !st.ok()) return state_error(op, st.error());
    return true;
  }

  Result<std::optional<SandboxRow>> get_sandbox(const std::string& id) override {
    auto stmt = prepare(std::string(kSelectSandbox) + " WHERE id = ?1");
    if (!stmt.ok()) return state_error("get sandbox " + id, stmt.error());
    stmt->bind(1, id);
    auto row = stmt->step();
    if (!row.ok()) return state_error("get sandbox " + id, row.error());
    if (!*row) return std::optional<SandboxRow>();
    return std::optional<SandboxRow>(read_sandbox(*stmt));
  }

  Result<std::vector<SandboxRow>> list_sandboxes() override {
    auto stmt = prepare(std::string(kSelectSandbox) + " ORDER BY created_at, id");
    if (!stmt.ok()) return state_error("list sandboxes", stmt.error());
    std::vector<SandboxRow> rows;
    for (;;) {
      auto row = stmt->step();
      if (!row.ok()) return state_error("list sandboxes", row.error());
      if (!*row) return rows;
      rows.push_back(read_sandbox(*stmt));
    }
  }

  Status remove_sandbox(const std::string& id) override {
    const std::string op = "remove sandbox " + id;
    auto txn = sqlite::Transaction::begin(db_.get(), sqlite::Transaction::Mode::kImmediate);
    if (!txn.ok()) return state_error(op, txn.error());
    // Explicit delete as well as ON DELETE CASCADE: history must go even if a connection
    // without foreign_keys ever wrote here.
    auto history = prepare("DELETE FROM lifecycle WHERE sandbox_id = ?1");
    if (!history.ok()) return state_error(op, history.error());
    history->bind(1, id);
    if (auto st = history->run(); !st.ok()) return state_error(op, st.error());
    auto stmt = prepare("DELETE FROM sandboxes WHERE id = ?1");
    if (!stmt.ok()) return state_error(op, stmt.error());
    stmt->bind(1, id);
    MATCHLOCK_TRY(run_on_existing(*stmt, op, id));
    if (auto st = txn->commit(); !st.ok()) return state_error(op, st.error());
    return {};
  }

  Status append_lifecycle(const std::string& id, const std::string& phase,
                          const std::string& detail) override {
    const std::string op = "append lifecycle of " + id;
    // Insert only for a known sandbox, so an unknown id is a clean kNotFound, not an FK error.
    auto stmt = prepare(
        "INSERT INTO lifecycle(sandbox_id, phase, detail, at) "
        "SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM sandboxes WHERE id = ?1)");
    if (!stmt.ok()) return state_error(op, stmt.error());
    stmt->bind(1, id).bind(2, phase).bind(3, detail).bind(4,
                                                          static_cast<int64_t>(std::time(nullptr)));
    return run_on_existing(*stmt, op, id);
  }

  Result<std::vector<LifecycleRow>> lifecycle(const std::string& id) override {
    const std::string op = "lifecycle of " + id;
    auto stmt = prepare(
        "SELECT seq, sandbox_id, phase, detail, at FROM lifecycle WHERE sandbox_id = ?1 "
        "ORDER BY seq");
    if (!stmt.ok()) return state_error(op, stmt.error());
    stmt->bind(1, id);
    std::vector<LifecycleRow> rows;
    for (;;) {
      auto row = stmt->step();
      if (!row.ok()) return state_error(op, row.error());
      if (!*row) return rows;
      rows.push_back({stmt->column_int64(0), stmt->column_text(1), stmt->column_text(2),
                      stmt->column_text(3), stmt->column_int64(4)});
    }
  }

  int schema_version() override { return version_; }

 private:
  Result<sqlite::Statement> prepare(std::string_view sql) {
    return sqlite::Statement::prepare(db_.get(), sql);
  }

  // Runs a write that targets one sandbox; no row changed means the id is unknown.
  Status run_on_existing(sqlite::Statement& stmt, const std::string& op, const std::string& id) {
    if (auto st = stmt.run(); !st.ok()) return state_error(op, st.error());
    if (sqlite3_changes(db_.get()) == 0) return not_found("state: " + op + ": no such sandbox");
    return {};
  }

  sqlite::DbPtr db_;
  int version_;
};

}  // namespace

namespace {

Result<std::unique_ptr<StateStore>> open_once(const std::filesystem::path& path,
                                              const std::string& op) {
  auto db = sqlite::open_db(path);
  if (!db.ok()) return state_error(op, db.error());
  if (auto st = configure(db->get()); !st.ok()) return state_error(op, st.error());
  if (auto st = apply_migrations(db->get(), builtin_migrations()); !st.ok()) {
    return state_error(op, st.error());
  }
  auto version = current_schema_version(db->get());
  if (!version.ok()) return state_error(op, version.error());
  return std::unique_ptr<StateStore>(
      std::make_unique<SqliteStateStore>(std::move(db).value(), *version));
}

bool is_lock_contention(const Error& e) {
  return e.message.find("database is locked") != std::string::npos ||
         e.message.find("database is busy") != std::string::npos;
}

}  // namespace

Result<std::unique_ptr<StateStore>> StateStore::open(const std::filesystem::path& home) {
  const std::filesystem::path path = home / "state.db";
  const std::string op = "open " + path.string();
  if (auto st = ensure_home(home); !st.ok()) return state_error(op, st.error());
  if (auto st = ensure_db_file(path); !st.ok()) return state_error(op, st.error());
  // SQLite skips the busy handler in a few first-open cases (switching a fresh file to WAL,
  // WAL recovery) and answers "locked" at once; several processes opening a new home at the
  // same moment hit that. Those errors are transient, so the whole open is retried.
  constexpr int kAttempts = 50;
  for (int attempt = 1;; ++attempt) {
    auto store = open_once(path, op);
    if (store.ok() || attempt == kAttempts || !is_lock_contention(store.error())) return store;
    ::usleep(static_cast<useconds_t>(2000 * attempt));
  }
}

}  // namespace matchlock::state
