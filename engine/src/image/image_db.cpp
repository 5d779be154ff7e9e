#include "image/image_db.h"

#include <unistd.h>

#include <array>

namespace matchlock::image {
namespace {

constexpr int kBusyTimeoutMs = 15000;

struct Finalize {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, Finalize>;

// Append-only: a released version is never edited; add a new entry instead.
constexpr std::array<const char*, 1> kMigrations = {
    R"sql(
CREATE TABLE manifests (
  digest        TEXT PRIMARY KEY,
  config_digest TEXT NOT NULL,
  config_size   INTEGER NOT NULL,
  size          INTEGER NOT NULL
);
CREATE TABLE manifest_layers (
  manifest_digest TEXT NOT NULL REFERENCES manifests(digest) ON DELETE CASCADE,
  ordinal         INTEGER NOT NULL,
  digest          TEXT NOT NULL,
  size            INTEGER NOT NULL,
  media_type      TEXT NOT NULL,
  PRIMARY KEY (manifest_digest, ordinal)
);
CREATE TABLE images (
  name            TEXT PRIMARY KEY,
  manifest_digest TEXT NOT NULL REFERENCES manifests(digest),
  created         INTEGER NOT NULL,
  source          TEXT NOT NULL
);
CREATE INDEX images_by_manifest ON images(manifest_digest);
)sql",
};

std::string col_text(sqlite3_stmt* s, int i) {
  const unsigned char* t = sqlite3_column_text(s, i);
  return t ? reinterpret_cast<const char*>(t) : "";
}

}  // namespace

Status ImageDb::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db_.get());
    sqlite3_free(err);
    return io_error("images.db: " + msg);
  }
  return {};
}

Result<ImageDb> ImageDb::open_once(const std::filesystem::path& file) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(file.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<sqlite3, Close> db(raw);
  if (rc != SQLITE_OK) {
    return io_error("open " + file.string() + ": " + (raw ? sqlite3_errmsg(raw) : "out of memory"));
  }
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
  ImageDb out(std::move(db));
  MATCHLOCK_TRY(
      out.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"));
  MATCHLOCK_TRY(out.migrate());
  return out;
}

Result<ImageDb> ImageDb::open(const std::filesystem::path& file) {
  // SQLite skips the busy handler in a few first-open cases (switching a fresh file to WAL,
  // WAL recovery) and answers "locked" at once when several processes open a new store
  // together. Those errors are transient, so the whole open is retried.
  constexpr int kAttempts = 50;
  for (int attempt = 1;; ++attempt) {
    auto db = open_once(file);
    if (db.ok() || attempt == kAttempts ||
        db.error().message.find("database is locked") == std::string::npos) {
      return db;
    }
    ::usleep(static_cast<useconds_t>(2000 * attempt));
  }
}

Status ImageDb::migrate() {
  // BEGIN IMMEDIATE serialises concurrent first opens; the busy timeout makes others wait.
  MATCHLOCK_TRY(exec(
      "BEGIN IMMEDIATE; CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);"));
  auto rollback = [&](Error e) {
    (void)exec("ROLLBACK");
    return e;
  };
  sqlite3_stmt* raw = nullptr;
  sqlite3_prepare_v2(db_.get(), "SELECT MAX(version) FROM schema_version", -1, &raw, nullptr);
  Stmt q(raw);
  int version = 0;
  if (q && sqlite3_step(q.get()) == SQLITE_ROW) version = sqlite3_column_int(q.get(), 0);
  q.reset();
  if (version > static_cast<int>(kMigrations.size())) {
    return rollback(io_error("images.db schema version " + std::to_string(version) +
                             " is newer than this matchlock supports"));
  }
  for (int v = version; v < static_cast<int>(kMigrations.size()); ++v) {
    if (auto st = exec(kMigrations[v]); !st) return rollback(st.error());
    std::string bump = "DELETE FROM schema_version; INSERT INTO schema_version VALUES (" +
                       std::to_string(v + 1) + ");";
    if (auto st = exec(bump.c_str()); !st) return rollback(st.error());
  }
  return exec("COMMIT");
}

Status ImageDb::put(const StoredImage& img) {
  return put_all({img});
}

Status ImageDb::put_all(const std::vector<StoredImage>& images) {
  MATCHLOCK_TRY(exec("BEGIN IMMEDIATE"));
  auto fail = [&](const char* what) {
    Error e = io_error(std::string("images.db: ") + what + ": " + sqlite3_errmsg(db_.get()));
    (void)exec("ROLLBACK");
    return e;
  };
  auto prepare = [&](const char* sql) {
    sqlite3_stmt* raw = nullptr;
    sqlite3_prepare_v2(db_.get(), sql, -1, &raw, nullptr);
    return Stmt(raw);
  };
  Stmt m = prepare(
      "INSERT OR IGNORE INTO manifests(digest, config_digest, config_size, size) VALUES (?,?,?,?)");
  Stmt l = prepare(
      "INSERT INTO manifest_layers(manifest_digest, ordinal, digest, size, media_type) VALUES "
      "(?,?,?,?,?)");
  Stmt t = prepare(
      "INSERT OR REPLACE INTO images(name, manifest_digest, created, source) VALUES (?,?,?,?)");
  if (!m || !l || !t) return fail("prepare");
  for (const StoredImage& img : images) {
    sqlite3_reset(m.get());
    sqlite3_bind_text(m.get(), 1, img.manifest_digest.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(m.get(), 2, img.config_digest.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(m.get(), 3, img.config_size);
    sqlite3_bind_int64(m.get(), 4, img.size);
    if (sqlite3_step(m.get()) != SQLITE_DONE) return fail("insert manifest");
    bool fresh = sqlite3_changes(db_.get()) > 0;
    for (size_t i = 0; fresh && i < img.layers.size(); ++i) {
      sqlite3_reset(l.get());
      sqlite3_bind_text(l.get(), 1, img.manifest_digest.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(l.get(), 2, static_cast<int64_t>(i));
      sqlite3_bind_text(l.get(), 3, img.layers[i].digest.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(l.get(), 4, img.layers[i].size);
      sqlite3_bind_text(l.get(), 5, img.layers[i].media_type.c_str(), -1, SQLITE_TRANSIENT);
      if (sqlite3_step(l.get()) != SQLITE_DONE) return fail("insert layer");
    }
    sqlite3_reset(t.get());
    sqlite3_bind_text(t.get(), 1, img.name.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(t.get(), 2, img.manifest_digest.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(t.get(), 3, img.created_unix);
    sqlite3_bind_text(t.get(), 4, img.source.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(t.get()) != SQLITE_DONE) return fail("insert image");
  }
  m.reset();
  l.reset();
  t.reset();
  if (auto st =
          exec("DELETE FROM manifests WHERE digest NOT IN (SELECT manifest_digest FROM images)");
      !st) {
    (void)exec("ROLLBACK");
    return st;
  }
  return exec("COMMIT");
}

Result<std::vector<StoredImage>> ImageDb::query_images(const char* where, const std::string* name) {
  std::string sql =
      "SELECT i.name, i.manifest_digest, m.config_digest, m.config_size, m.size, i.created, "
      "i.source "
      "FROM images i JOIN manifests m ON m.digest = i.manifest_digest ";
  sql += where;
  sql += " ORDER BY i.name";
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_.get(), sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
    return io_error(std::string("images.db: ") + sqlite3_errmsg(db_.get()));
  }
  Stmt q(raw);
  if (name) sqlite3_bind_text(q.get(), 1, name->c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_prepare_v2(
      db_.get(),
      "SELECT digest, size, media_type FROM manifest_layers WHERE manifest_digest = ? "
      "ORDER BY ordinal",
      -1, &raw, nullptr);
  Stmt layers(raw);
  if (!layers) return io_error(std::string("images.db: ") + sqlite3_errmsg(db_.get()));
  std::vector<StoredImage> out;
  int rc;
  while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
    StoredImage img;
    img.name = col_text(q.get(), 0);
    img.manifest_digest = col_text(q.get(), 1);
    img.config_digest = col_text(q.get(), 2);
    img.config_size = sqlite3_column_int64(q.get(), 3);
    img.size = sqlite3_column_int64(q.get(), 4);
    img.created_unix = sqlite3_column_int64(q.get(), 5);
    img.source = col_text(q.get(), 6);
    sqlite3_reset(layers.get());
    sqlite3_bind_text(layers.get(), 1, img.manifest_digest.c_str(), -1, SQLITE_TRANSIENT);
    while (sqlite3_step(layers.get()) == SQLITE_ROW) {
      Descriptor d;
      d.digest = col_text(layers.get(), 0);
      d.size = sqlite3_column_int64(layers.get(), 1);
      d.media_type = col_text(layers.get(), 2);
      img.layers.push_back(std::move(d));
    }
    out.push_back(std::move(img));
  }
  if (rc != SQLITE_DONE) return io_error(std::string("images.db: ") + sqlite3_errmsg(db_.get()));
  return out;
}

Result<std::optional<StoredImage>> ImageDb::get(const std::string& name) {
  auto rows = query_images("WHERE i.name = ?", &name);
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<StoredImage>();
  return std::optional<StoredImage>(std::move(rows->front()));
}

Result<std::vector<StoredImage>> ImageDb::list() {
  return query_images("", nullptr);
}

Result<std::vector<Descriptor>> ImageDb::layers(const std::string& manifest_digest) {
  sqlite3_stmt* raw = nullptr;
  sqlite3_prepare_v2(
      db_.get(),
      "SELECT digest, size, media_type FROM manifest_layers WHERE manifest_digest = ? "
      "ORDER BY ordinal",
      -1, &raw, nullptr);
  Stmt q(raw);
  if (!q) return io_error(std::string("images.db: ") + sqlite3_errmsg(db_.get()));
  sqlite3_bind_text(q.get(), 1, manifest_digest.c_str(), -1, SQLITE_TRANSIENT);
  std::vector<Descriptor> out;
  while (sqlite3_step(q.get()) == SQLITE_ROW) {
    Descriptor d;
    d.digest = col_text(q.get(), 0);
    d.size = sqlite3_column_int64(q.get(), 1);
    d.media_type = col_text(q.get(), 2);
    out.push_back(std::move(d));
  }
  return out;
}

Result<bool> ImageDb::remove(const std::string& name) {
  MATCHLOCK_TRY(exec("BEGIN IMMEDIATE"));
  sqlite3_stmt* raw = nullptr;
  sqlite3_prepare_v2(db_.get(), "DELETE FROM images WHERE name = ?", -1, &raw, nullptr);
  Stmt d(raw);
  if (!d) {
    (void)exec("ROLLBACK");
    return io_error(std::string("images.db: ") + sqlite3_errmsg(db_.get()));
  }
  sqlite3_bind_text(d.get(), 1, name.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(d.get()) != SQLITE_DONE) {
    Error e = io_error(std::string("images.db: ") + sqlite3_errmsg(db_.get()));
    (void)exec("ROLLBACK");
    return e;
  }
  bool removed = sqlite3_changes(db_.get()) > 0;
  d.reset();
  if (auto st =
          exec("DELETE FROM manifests WHERE digest NOT IN (SELECT manifest_digest FROM images)");
      !st) {
    (void)exec("ROLLBACK");
    return st.error();
  }
  MATCHLOCK_TRY(exec("COMMIT"));
  return removed;
}

Result<std::set<std::string>> ImageDb::referenced_blobs() {
  sqlite3_stmt* raw = nullptr;
  sqlite3_prepare_v2(db_.get(),
                     "SELECT digest FROM manifests UNION SELECT config_digest FROM manifests "
                     "UNION SELECT digest FROM manifest_layers",
                     -1, &raw, nullptr);
  Stmt q(raw);
  if (!q) return io_error(std::string("images.db: ") + sqlite3_errmsg(db_.get()));
  std::set<std::string> out;
  while (sqlite3_step(q.get()) == SQLITE_ROW) out.insert(col_text(q.get(), 0));
  return out;
}

Result<std::set<std::string>> ImageDb::referenced_manifests() {
  sqlite3_stmt* raw = nullptr;
  sqlite3_prepare_v2(db_.get(), "SELECT digest FROM manifests", -1, &raw, nullptr);
  Stmt q(raw);
  if (!q) return io_error(std::string("images.db: ") + sqlite3_errmsg(db_.get()));
  std::set<std::string> out;
  while (sqlite3_step(q.get()) == SQLITE_ROW) out.insert(col_text(q.get(), 0));
  return out;
}

}  // namespace matchlock::image
