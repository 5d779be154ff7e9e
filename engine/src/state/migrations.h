// Versioned schema migrations for state.db, tracked in schema_migrations.
#pragma once

#include <sqlite3.h>

#include <span>
#include <string>

#include "core/result.h"

namespace matchlock::state {

struct Migration {
  int version;       // strictly increasing, never reused
  const char* name;  // short description, recorded in schema_migrations.name
  const char* sql;   // DDL only; may hold several statements
};

// The engine's migrations, oldest first. Append new ones; never edit an applied one.
std::span<const Migration> builtin_migrations();

// Applies every migration newer than the recorded version, each in its own BEGIN IMMEDIATE
// transaction, so two processes opening the store at once serialize and the loser sees the
// winner's work instead of applying it twice. Fails if the database is newer than `migrations`.
Status apply_migrations(sqlite3* db, std::span<const Migration> migrations);

// Highest applied version, 0 for a fresh database.
Result<int> current_schema_version(sqlite3* db);

}  // namespace matchlock::state
