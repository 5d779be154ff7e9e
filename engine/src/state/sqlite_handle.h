// Thin RAII layer over the SQLite C API: owned connections, prepared statements with bound
// parameters, and a transaction guard that rolls back unless committed.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "core/result.h"

namespace matchlock::state::sqlite {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;

struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// The connection's last error message, for one-line error text.
std::string last_error(sqlite3* db);

// Opens (creating if needed) a read-write connection.
Result<DbPtr> open_db(const std::filesystem::path& path);

// Runs SQL without parameters (pragmas, schema DDL). Never use it for data: use Statement.
Status exec(sqlite3* db, const std::string& sql);

class Statement {
 public:
  static Result<Statement> prepare(sqlite3* db, std::string_view sql);

  // Parameters are 1-based, as in SQLite. A failed bind is reported by the next step().
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, int64_t value);

  // Advances one row: true when a row is available, false when done.
  Result<bool> step();
  // Steps to completion, for statements that return no rows.
  Status run();

  int64_t column_int64(int col) const;
  std::string column_text(int col) const;
  bool column_is_null(int col) const;

 private:
  Statement(sqlite3* db, StmtPtr stmt) : db_(db), stmt_(std::move(stmt)) {}
  void note_bind(int rc);

  sqlite3* db_ = nullptr;  // not owned: statements never outlive their store
  StmtPtr stmt_;
  int bind_error_ = SQLITE_OK;
};

// BEGIN [IMMEDIATE] ... COMMIT; rolls back on destruction unless commit() succeeded.
class Transaction {
 public:
  enum class Mode { kDeferred, kImmediate };
  static Result<Transaction> begin(sqlite3* db, Mode mode);

  Transaction(Transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  ~Transaction();

  Status commit();

 private:
  explicit Transaction(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;  // null once committed or moved from
};

}  // namespace matchlock::state::sqlite
