#include "sandbox/saved_guest_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "core/json.h"
#include "core/knobs.h"
#include "core/log.h"
#include "core/paths.h"
#include "core/remove_tree.h"
#include "image/content_store.h"
#include "image/digest.h"
#include "sandbox/sparse_file.h"

namespace matchlock::sandbox {
namespace fs = std::filesystem;

namespace {

constexpr const char* kStateFile = "guest.state";
constexpr const char* kMetaFile = "meta.json";
constexpr const char* kUpperFile = "upper.disk";
constexpr const char* kTemporaryPrefix = "guest.state.tmp-";
constexpr const char* kUpperTemporaryPrefix = "upper.disk.tmp-";
// 2: the writable disk is part of the save; 3: XXH3 digests (sparse_file.h), not SHA-256. A save
// of another format is never restored.
constexpr int kMetaFormat = 3;
constexpr uint64_t kDefaultBudgetMib = 4096;

bool valid_key(const std::string& key) {
  return key.size() == 32 && std::all_of(key.begin(), key.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string meta_json(const SavedGuestInfo& m) {
  json::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("format", kMetaFormat, a);
  d.AddMember("key", json::str(m.key, a), a);
  d.AddMember("image", json::str(m.image, a), a);
  d.AddMember("image_digest", json::str(m.image_digest, a), a);
  d.AddMember("memory_mib", m.memory_mib, a);
  d.AddMember("cpus", m.cpus, a);
  d.AddMember("network", m.network, a);
  d.AddMember("qemu", json::str(m.qemu, a), a);
  d.AddMember("state_bytes", m.state_bytes, a);
  d.AddMember("state_digest", json::str(m.state_digest, a), a);
  d.AddMember("upper_bytes", m.upper_bytes, a);
  d.AddMember("upper_digest", json::str(m.upper_digest, a), a);
  d.AddMember("created_unix", m.created_unix, a);
  return json::to_string(d);
}

std::optional<SavedGuestInfo> read_meta(const fs::path& dir) {
  std::ifstream in(dir / kMetaFile);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  json::Document d;
  d.Parse(text.str().c_str());
  if (d.HasParseError() || !d.IsObject() || json::get_int(d, "format") != kMetaFormat) {
    return std::nullopt;
  }
  SavedGuestInfo m;
  m.key = json::get_string(d, "key");
  m.image = json::get_string(d, "image");
  m.image_digest = json::get_string(d, "image_digest");
  m.memory_mib = static_cast<uint64_t>(json::get_int(d, "memory_mib"));
  m.cpus = static_cast<int>(json::get_int(d, "cpus"));
  if (auto* n = json::member(d, "network"); n && n->IsBool()) m.network = n->GetBool();
  m.qemu = json::get_string(d, "qemu");
  m.state_bytes = static_cast<uint64_t>(json::get_int(d, "state_bytes"));
  m.state_digest = json::get_string(d, "state_digest");
  m.upper_bytes = static_cast<uint64_t>(json::get_int(d, "upper_bytes"));
  m.upper_digest = json::get_string(d, "upper_digest");
  m.created_unix = json::get_int(d, "created_unix");
  if (m.key != dir.filename().string() || !is_file_digest(m.state_digest) ||
      !is_file_digest(m.upper_digest)) {
    return std::nullopt;
  }
  std::error_code ec;
  auto used = fs::last_write_time(dir / kMetaFile, ec);
  if (!ec) {
    m.last_used_unix = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::file_clock::to_sys(used).time_since_epoch())
                           .count();
  }
  return m;
}

Status write_file_durably(const fs::path& path, const std::string& text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) return io_error("create " + path.string() + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd.get(), text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("write " + path.string() + ": " + std::strerror(errno));
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0)
    return io_error("fsync " + path.string() + ": " + std::strerror(errno));
  return Status();
}

// Allocated, not apparent, sizes: a state file is as large as the guest's RAM and a writable
// disk as its --disk-size, both mostly holes.
uint64_t dir_bytes(const fs::path& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    struct stat st {};
    if (::lstat(e.path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      total += static_cast<uint64_t>(st.st_blocks) * 512;
    }
  }
  return total;
}

Status fsync_file(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd || ::fsync(fd.get()) != 0) {
    return io_error("fsync " + path.string() + ": " + std::strerror(errno));
  }
  return Status();
}

}  // namespace

SaveSlot::~SaveSlot() {
  if (!committed_ && !temporary_.empty()) {
    std::error_code ec;
    fs::remove(temporary_, ec);
    fs::remove(upper_temporary(), ec);
  }
}

fs::path SaveSlot::upper_temporary() const {
  return dir_ / (kUpperTemporaryPrefix + std::to_string(::getpid()));
}

Status SaveSlot::commit(SavedGuestInfo info, const fs::path& upper_disk) {
  const fs::path upper_temporary = this->upper_temporary();
  std::error_code ec;
  fs::remove(upper_temporary, ec);
  auto upper_digest = copy_sparse_file(upper_disk, upper_temporary);
  if (!upper_digest.ok()) return upper_digest.error().with_context("copy the writable disk");
  uint64_t bytes = 0;
  auto digest = digest_of_file(temporary_, &bytes);
  if (!digest.ok()) return digest.error();
  if (bytes == 0) return Error(ErrorCode::kIo, "the saved guest state is empty");
  // Both files are complete on disk before meta.json names them: a crash in between leaves
  // files without meta, which find() ignores and the next save replaces.
  MATCHLOCK_TRY(fsync_file(upper_temporary));
  MATCHLOCK_TRY(fsync_file(temporary_));
  info.key = dir_.filename().string();
  info.state_bytes = bytes;
  info.state_digest = digest.value();
  info.upper_bytes = fs::file_size(upper_temporary, ec);
  if (ec) return io_error("stat " + upper_temporary.string() + ": " + ec.message());
  info.upper_digest = upper_digest.value();
  info.created_unix = static_cast<int64_t>(::time(nullptr));
  fs::remove(dir_ / kMetaFile, ec);  // an older save's meta must never describe the new files
  fs::rename(upper_temporary, dir_ / kUpperFile, ec);
  if (ec) return io_error("rename " + upper_temporary.string() + ": " + ec.message());
  fs::rename(temporary_, dir_ / kStateFile, ec);
  if (ec) return io_error("rename " + temporary_.string() + ": " + ec.message());
  auto meta_tmp = dir_ / (std::string(kMetaFile) + ".tmp");
  if (auto st = write_file_durably(meta_tmp, meta_json(info)); !st.ok()) return st;
  fs::rename(meta_tmp, dir_ / kMetaFile, ec);
  if (ec) return io_error("rename " + meta_tmp.string() + ": " + ec.message());
  if (auto st = image::fsync_dir(dir_); !st.ok()) return st;  // the renames themselves
  committed_ = true;
  return Status();
}

SavedGuestStore::SavedGuestStore(fs::path root, uint64_t budget_bytes)
    : root_(std::move(root)), budget_bytes_(budget_bytes) {}

SavedGuestStore SavedGuestStore::open_default() {
  uint64_t mib = kDefaultBudgetMib;
  if (auto v = knobs::get(knobs::kWarmCacheMib)) {
    char* end = nullptr;
    unsigned long long parsed = std::strtoull(v->c_str(), &end, 10);
    if (end && *end == '\0') mib = parsed;  // 0 disables saving (nothing fits)
  }
  return SavedGuestStore(matchlock_home() / "cache" / "warm", mib << 20);
}

std::optional<SavedGuest> SavedGuestStore::find(const std::string& key) const {
  if (!valid_key(key)) return std::nullopt;
  auto dir = root_ / key;
  auto meta = read_meta(dir);
  if (!meta) return std::nullopt;
  // Truncated or replaced: not ours.
  std::error_code ec;
  if (fs::file_size(dir / kStateFile, ec) != meta->state_bytes || ec) return std::nullopt;
  if (fs::file_size(dir / kUpperFile, ec) != meta->upper_bytes || ec) return std::nullopt;
  return SavedGuest{std::move(*meta), dir / kStateFile, dir / kUpperFile};
}

Result<std::optional<SaveSlot>> SavedGuestStore::try_begin_save(const std::string& key) const {
  if (!valid_key(key)) return invalid_argument("saved guest key is malformed");
  if (budget_bytes_ == 0) return std::optional<SaveSlot>();
  auto dir = root_ / key;
  if (auto st = ensure_private_dir(dir); !st.ok()) return st.error();
  auto lock_path = root_ / (key + ".lock");
  UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock) return io_error("open " + lock_path.string() + ": " + std::strerror(errno));
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return std::optional<SaveSlot>();
    return io_error("lock " + lock_path.string() + ": " + std::strerror(errno));
  }
  // We hold the key: any temporary file here is a killed saver's.
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with(kTemporaryPrefix) || name.starts_with(kUpperTemporaryPrefix)) {
      fs::remove(e.path(), ec);
    }
  }
  auto temporary = dir / (kTemporaryPrefix + std::to_string(::getpid()));
  return std::optional<SaveSlot>(SaveSlot(std::move(lock), dir, temporary));
}

void SavedGuestStore::touch(const std::string& key) const {
  if (!valid_key(key)) return;
  std::error_code ec;
  fs::last_write_time(root_ / key / kMetaFile, fs::file_time_type::clock::now(), ec);
}

Status SavedGuestStore::remove(const std::string& key) const {
  if (!valid_key(key)) return invalid_argument("saved guest key is malformed");
  auto lock_path = root_ / (key + ".lock");
  UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CLOEXEC));
  if (lock && ::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) return Status();  // being written
  std::error_code ec;
  fs::remove(root_ / key / kMetaFile, ec);  // first: a half-removed save is never found
  remove_tree(root_ / key, ec);
  if (ec) return io_error("remove saved guest " + key + ": " + ec.message());
  fs::remove(lock_path, ec);
  return Status();
}

std::vector<SavedGuestInfo> SavedGuestStore::list() const {
  std::vector<SavedGuestInfo> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root_, ec)) {
    if (!e.is_directory(ec) || !valid_key(e.path().filename().string())) continue;
    if (auto saved = find(e.path().filename().string())) {
      // Only listing needs it (a boot's lookup does not): one directory scan per save.
      saved->info.disk_bytes = dir_bytes(e.path());
      out.push_back(saved->info);
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.last_used_unix != b.last_used_unix ? a.last_used_unix < b.last_used_unix
                                                : a.key < b.key;
  });
  return out;
}

size_t SavedGuestStore::remove_for_image(const std::string& image_digest) const {
  size_t removed = 0;
  for (const auto& s : list()) {
    if (s.image_digest == image_digest && remove(s.key).ok()) ++removed;
  }
  return removed;
}

void SavedGuestStore::enforce_budget(const std::string& keep) const {
  auto saves = list();  // least recently used first
  uint64_t total = 0;
  for (const auto& s : saves) total += s.disk_bytes;
  for (const auto& s : saves) {
    if (total <= budget_bytes_) break;
    if (s.key == keep) continue;
    if (remove(s.key).ok()) {
      log::info("saved guest " + s.key + " (" + s.image + ") evicted: the warm cache is full");
      total -= std::min(total, s.disk_bytes);
    }
  }
}

}  // namespace matchlock::sandbox
