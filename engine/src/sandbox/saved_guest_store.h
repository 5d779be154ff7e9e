// Saved guests for warm starts: a booted guest, stopped right after the agent's HELLO and
// written by QEMU's migration to a file, which later boots with the same key restore instead of
// booting. Lives in $MATCHLOCK_HOME/cache/warm/<key>/:
//
//   guest.state   QEMU's migration stream (device state and the RAM the guest touched)
//   upper.disk    the writable disk as it was at the save (the saved guest has it mounted):
//                 every sandbox restored from the save starts from a copy of it
//   meta.json     what the save is for (image, memory, cpus, network), both files' sizes and
//                 SHA-256s
//
// A save is written to a temporary file and renamed into place only when complete, by the one
// boot that holds the key's lock; a killed saver leaves only a temporary file, which the next
// saver removes. The disk the saves take (allocated blocks: both files are sparse) is bounded:
// the least recently used saves go first.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/unique_fd.h"

namespace matchlock::sandbox {

// What a save is for, as `image ls --saved` shows it (the key itself is a digest of more).
struct SavedGuestInfo {
  std::string key;           // 32 hex digits: the directory name
  std::string image;         // the image reference at save time
  std::string image_digest;  // "sha256:..."
  uint64_t memory_mib = 0;
  int cpus = 0;
  bool network = false;
  std::string qemu;          // QEMU's version line
  uint64_t state_bytes = 0;  // size of guest.state
  std::string state_digest;  // sparse_file.h's digest of guest.state
  uint64_t upper_bytes = 0;  // size of upper.disk (the sandbox's --disk-size)
  std::string upper_digest;  // sparse_file.h's digest of upper.disk
  uint64_t disk_bytes = 0;   // list() only: what the save takes on disk (allocated blocks)
  int64_t created_unix = 0;
  int64_t last_used_unix = 0;
};

// A save found for a key: its files and what to check them against.
struct SavedGuest {
  SavedGuestInfo info;
  std::filesystem::path state_file;
  std::filesystem::path upper_file;
};

// The right to write one key's save, held by one boot at a time (flock on <key>.lock). Dropping
// it without commit() removes the temporary file.
class SaveSlot {
 public:
  SaveSlot(SaveSlot&&) noexcept = default;
  SaveSlot& operator=(SaveSlot&&) noexcept = default;
  ~SaveSlot();

  // Where QEMU writes the migration stream.
  const std::filesystem::path& temporary_file() const { return temporary_; }
  // Copies the sandbox's writable disk (`upper_disk`: QEMU must have stopped the guest), hashes
  // the temporary state file, writes meta.json and renames all into place (blocking: hashing
  // ~70 MB takes ~50 ms). `info.key`, sizes and digests are filled in here.
  Status commit(SavedGuestInfo info, const std::filesystem::path& upper_disk);

 private:
  friend class SavedGuestStore;
  SaveSlot(UniqueFd lock, std::filesystem::path dir, std::filesystem::path temporary)
      : lock_(std::move(lock)), dir_(std::move(dir)), temporary_(std::move(temporary)) {}
  std::filesystem::path upper_temporary() const;  // where the writable disk is copied to
  UniqueFd lock_;
  std::filesystem::path dir_;
  std::filesystem::path temporary_;
  bool committed_ = false;
};

class SavedGuestStore {
 public:
  // $MATCHLOCK_HOME/cache/warm; `budget_bytes` bounds the sum of all saves.
  explicit SavedGuestStore(std::filesystem::path root, uint64_t budget_bytes);
  static SavedGuestStore open_default();  // budget from MATCHLOCK_WARM_CACHE_MIB, else 4 GiB

  // The complete save for `key`, or nullopt (none, or one without a readable meta.json).
  std::optional<SavedGuest> find(const std::string& key) const;
  // The slot to write `key`'s save, or nullopt when another boot holds it right now (that boot
  // saves; this one just boots cold). Removes temporary files a killed saver left.
  Result<std::optional<SaveSlot>> try_begin_save(const std::string& key) const;
  // Marks a save used now (least recently used saves are evicted first).
  void touch(const std::string& key) const;
  // Drops one save (a corrupt or stale one). A save being written is left alone.
  Status remove(const std::string& key) const;
  // Every complete save, oldest first.
  std::vector<SavedGuestInfo> list() const;
  // Drops every save of an image digest; returns how many.
  size_t remove_for_image(const std::string& image_digest) const;
  // Drops least recently used saves until the total is within the budget, never `keep`.
  void enforce_budget(const std::string& keep) const;

  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;
  uint64_t budget_bytes_;
};

}  // namespace matchlock::sandbox
