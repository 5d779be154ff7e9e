// How a boot gets its running guest: restored from a saved guest (a warm start), or booted from
// the kernel (cold), saving the booted guest when no save exists for its key yet. The plan is
// made off the loop (it reads the cache); the state file's checksum is verified and the writable
// disk copied in the background while QEMU starts and loads the state, and the guest runs only
// once all three are done and agree.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "sandbox/saved_guest_key.h"
#include "sandbox/saved_guest_store.h"

namespace matchlock::sandbox {

enum class GuestStart {
  kCold,         // boot; no save (asked to, saving is unavailable, or another boot is saving)
  kColdAndSave,  // boot and save the guest at its HELLO
  kRestore,      // restore the saved guest
};

struct GuestStartPlan {
  GuestStart mode = GuestStart::kCold;
  std::string key;
  std::optional<SavedGuest> saved;  // kRestore
  std::optional<SaveSlot> slot;     // kColdAndSave
  std::string reason;               // for the debug log: why this mode
};

// Blocking. `cold_requested`: --cold. `qemu_identity` names the QEMU binary and the engine's
// version for the "cannot save" marker (a QEMU that refused to save is not asked again by this
// engine).
GuestStartPlan plan_guest_start(const SavedGuestStore& store, const SavedGuestKeyInputs& key,
                                const std::string& qemu_identity, bool cold_requested);

// Claims `key`'s save slot after a failed restore, so the cold boot that follows rebuilds it.
std::optional<SaveSlot> claim_save_slot(const SavedGuestStore& store, const std::string& key);

// Records that this QEMU cannot save guests (e.g. QEMU < 9.0 refuses to migrate virtio-fs), so
// later boots stop trying until QEMU or the engine changes.
void mark_saving_unsupported(const SavedGuestStore& store, const std::string& qemu_identity,
                             const std::string& reason);
// True for QEMU's refusals that no retry will change.
bool is_permanent_save_refusal(const std::string& qmp_error);

// A restored sandbox's writable disk: the save's copied into `out_fd` (an empty file, named `to`),
// checked against the save's checksum (blocking; a few MB of data in a sparse file).
Status copy_saved_upper_disk(const SavedGuest& saved, int out_fd, const std::filesystem::path& to);

// The save's state file against its checksum (blocking; the size of the guest's used RAM).
Status verify_saved_state(const SavedGuest& saved);

// A blocking check run on the libuv thread pool while the boot goes on (the state file's
// checksum, the writable disk's copy): when_done() calls back once its result is known, at once
// if it already is.
class BackgroundCheck : public std::enable_shared_from_this<BackgroundCheck> {
 public:
  static std::shared_ptr<BackgroundCheck> start(uv_loop_t* loop, std::function<Status()> check);
  void when_done(std::function<void(Status)> done);
  // `done` once every check is done: with the first failure (in the given order), else OK.
  static void when_all_done(std::vector<std::shared_ptr<BackgroundCheck>> checks,
                            std::function<void(Status)> done);

 private:
  std::optional<Status> result_;
  std::function<void(Status)> waiter_;
};

}  // namespace matchlock::sandbox
