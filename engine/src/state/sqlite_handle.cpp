#include "state/sqlite_handle.h"

#include <utility>

namespace matchlock::state::sqlite {

std::string last_error(sqlite3* db) {
  return db ? sqlite3_errmsg(db) : "out of memory";
}

Result<DbPtr> open_db(const std::filesystem::path& path) {
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  DbPtr db(raw);  // sqlite3_open_v2 may hand back a handle even on failure: always close it
  if (rc != SQLITE_OK) return io_error(last_error(db.get()));
  sqlite3_extended_result_codes(db.get(), 1);
  return db;
}

Status exec(sqlite3* db, const std::string& sql) {
  char* raw_msg = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &raw_msg);
  std::unique_ptr<char, decltype(&sqlite3_free)> msg(raw_msg, &sqlite3_free);
  if (rc != SQLITE_OK) return io_error(msg ? msg.get() : last_error(db));
  return {};
}

Result<Statement> Statement::prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &raw, nullptr);
  StmtPtr stmt(raw);
  if (rc != SQLITE_OK) return io_error(last_error(db));
  return Statement(db, std::move(stmt));
}

void Statement::note_bind(int rc) {
  if (rc != SQLITE_OK && bind_error_ == SQLITE_OK) bind_error_ = rc;
}

Statement& Statement::bind(int index, std::string_view text) {
  note_bind(sqlite3_bind_text(stmt_.get(), index, text.data(), static_cast<int>(text.size()),
                              SQLITE_TRANSIENT));
  return *this;
}

Statement& Statement::bind(int index, int64_t value) {
  note_bind(sqlite3_bind_int64(stmt_.get(), index, value));
  return *this;
}

Result<bool> Statement::step() {
  if (bind_error_ != SQLITE_OK) {
    return Error(ErrorCode::kInternal, std::string("bind: ") + sqlite3_errstr(bind_error_));
  }
  const int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  const int primary = rc & 0xff;
  const ErrorCode code = primary == SQLITE_CONSTRAINT ? ErrorCode::kAlreadyExists
                         : primary == SQLITE_BUSY     ? ErrorCode::kTimeout
                                                      : ErrorCode::kIo;
  return Error(code, last_error(db_));
}

Status Statement::run() {
  for (;;) {
    auto row = step();
    if (!row.ok()) return row.error();
    if (!*row) return {};
  }
}

int64_t Statement::column_int64(int col) const {
  return sqlite3_column_int64(stmt_.get(), col);
}

std::string Statement::column_text(int col) const {
  const auto* text = sqlite3_column_text(stmt_.get(), col);
  if (!text) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), col)));
}

bool Statement::column_is_null(int col) const {
  return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL;
}

Result<Transaction> Transaction::begin(sqlite3* db, Mode mode) {
  MATCHLOCK_TRY(exec(db, mode == Mode::kImmediate ? "BEGIN IMMEDIATE" : "BEGIN"));
  return Transaction(db);
}

Transaction::~Transaction() {
  // Best effort: the error, if any, was already reported by the failing statement.
  if (db_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

Status Transaction::commit() {
  if (!db_) return Error(ErrorCode::kInternal, "commit: transaction is not active");
  MATCHLOCK_TRY(exec(db_, "COMMIT"));
  db_ = nullptr;
  return {};
}

}  // namespace matchlock::state::sqlite
