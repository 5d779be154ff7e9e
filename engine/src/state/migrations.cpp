#include "state/migrations.h"

#include <ctime>

#include "state/sqlite_handle.h"

namespace matchlock::state {
namespace {

constexpr Migration kMigrations[] = {
    {1, "sandboxes and lifecycle",
     // lifecycle rows belong to their sandbox: removing the sandbox removes its history too,
     // so nothing remains after `run --rm` / `rm`.
     R"sql(
CREATE TABLE sandboxes (
  id          TEXT PRIMARY KEY,
  status      TEXT NOT NULL,
  image       TEXT NOT NULL,
  owner_pid   INTEGER,
  qemu_pid    INTEGER,
  created_at  INTEGER,
  config_json TEXT
);
CREATE TABLE lifecycle (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  sandbox_id TEXT NOT NULL REFERENCES sandboxes(id) ON DELETE CASCADE,
  phase      TEXT NOT NULL,
  detail     TEXT,
  at         INTEGER
);
CREATE INDEX lifecycle_by_sandbox ON lifecycle(sandbox_id, seq);
)sql"},
    {2, "owner and qemu start times",
     // With the pids, these pin each recorded process down: a recycled pid has another start
     // time. 0 = unknown (rows written before this migration).
     R"sql(
ALTER TABLE sandboxes ADD COLUMN owner_start_time INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sandboxes ADD COLUMN qemu_start_time INTEGER NOT NULL DEFAULT 0;
)sql"},
};

constexpr const char* kCreateMigrationsTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version INTEGER PRIMARY KEY, name TEXT, applied_at INTEGER)";

Result<int> read_version(sqlite3* db) {
  auto stmt =
      sqlite::Statement::prepare(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!stmt.ok()) return stmt.error();
  auto row = stmt->step();
  if (!row.ok()) return row.error();
  return static_cast<int>(stmt->column_int64(0));
}

Status apply_one(sqlite3* db, const Migration& m) {
  auto txn = sqlite::Transaction::begin(db, sqlite::Transaction::Mode::kImmediate);
  if (!txn.ok()) return txn.error();
  MATCHLOCK_TRY(sqlite::exec(db, kCreateMigrationsTable));
  // Re-read under the write lock: another process may have applied it while we waited.
  auto version = read_version(db);
  if (!version.ok()) return version.error();
  if (*version >= m.version) return txn->commit();

  auto applied = sqlite::exec(db, m.sql);
  if (!applied.ok()) {
    return applied.error().with_context("migration " + std::to_string(m.version) + " (" + m.name +
                                        ")");
  }
  auto record = sqlite::Statement::prepare(
      db, "INSERT INTO schema_migrations(version, name, applied_at) VALUES (?1, ?2, ?3)");
  if (!record.ok()) return record.error();
  record->bind(1, static_cast<int64_t>(m.version))
      .bind(2, m.name)
      .bind(3, static_cast<int64_t>(std::time(nullptr)));
  MATCHLOCK_TRY(record->run());
  return txn->commit();
}

}  // namespace

std::span<const Migration> builtin_migrations() {
  return kMigrations;
}

Result<int> current_schema_version(sqlite3* db) {
  MATCHLOCK_TRY(sqlite::exec(db, kCreateMigrationsTable));
  return read_version(db);
}

Status apply_migrations(sqlite3* db, std::span<const Migration> migrations) {
  auto version = current_schema_version(db);
  if (!version.ok()) return version.error();
  const int latest = migrations.empty() ? 0 : migrations.back().version;
  if (*version > latest) {
    return Error(ErrorCode::kUnsupported, "schema version " + std::to_string(*version) +
                                              " is newer than this matchlock supports (" +
                                              std::to_string(latest) + ")");
  }
  for (const Migration& m : migrations) {
    if (m.version <= *version) continue;
    MATCHLOCK_TRY(apply_one(db, m));
  }
  return {};
}

}  // namespace matchlock::state
