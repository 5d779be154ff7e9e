// Boot's warm-start steps: choosing between a restore and a cold boot, saving a cold-booted
// guest at its HELLO, restoring a saved one, and giving up on a failed restore for a cold boot.
#include <sys/socket.h>

#include <chrono>
#include <cmath>
#include <iterator>
#include <string_view>

#include "core/build_info.h"
#include "core/file_identity.h"
#include "core/log.h"
#include "core/subprocess.h"
#include "core/uv.h"
#include "sandbox/boot.h"
#include "vm/guest_migration.h"
#include "vm/qemu_install.h"

namespace matchlock::sandbox {
namespace {

// Saving writes the RAM the guest touched (~70 MB for a fresh 512 MiB guest) to the page cache:
// well under a second; the bound only catches a wedged QEMU.
constexpr std::chrono::milliseconds kSaveTimeout{60'000};
constexpr std::chrono::milliseconds kRestoreTimeout{60'000};

}  // namespace

// The key covers QEMU's whole command line, so the per-sandbox file names are replaced by
// placeholders first: two sandboxes differ in them but boot the same machine.
void Boot::plan_warm_start(StepDone done) {
  if (attempt_ > 0) return done(Status());  // after a failed restore: fall_back_to_cold_boot chose
  const auto& options = sandbox_->options_;
  const bool benchmark_baseline = slirp_baseline_ || vm::bench_virtfs_requested().has_value();
  if (benchmark_baseline) {
    guest_start_.reason = "benchmark baseline";
    return done(Status());
  }
  vm::VmSpec spec = vm_spec();
  spec.host_tsc_khz = 0;  // calibration help for a booting kernel; "cpu MHz" may drift
  // The guest learnt the upper disk's size when it probed it before the save.
  spec.upper_disk = "<upper disk of " + std::to_string(options.disk_size_mib) + " MiB>";
  for (size_t i = 0; i < spec.data_disks.size(); ++i) {
    spec.data_disks[i].path = "<data disk " + std::to_string(i) + ">";
    spec.data_disks[i].readonly = false;  // re-read by the guest after a restore
  }
  SavedGuestKeyInputs inputs;
  inputs.qemu_argv = vm::qemu_argv(spec);
  inputs.image_digest = res().image.digest;
  inputs.engine_version = std::string(MATCHLOCK_VERSION) + " " + build_git_commit();
  struct Planned {
    GuestStartPlan plan;
    std::string qemu_identity;
  };
  auto planned = std::make_shared<Planned>();
  uv::queue_work(
      sandbox_->loop_,
      [planned, inputs = std::move(inputs), kernel = bundle_.kernel, initrd = bundle_.initrd,
       image_disk = spec.base_disk, cold = options.cold_boot]() mutable {
        auto store = SavedGuestStore::open_default();
        auto qemu = find_program(vm::kQemuBinary);
        // The saved guest has the image's disk mounted: a rebuilt disk file is a new machine.
        for (const auto& file : {qemu.ok() ? std::filesystem::path(qemu.value())
                                           : std::filesystem::path(vm::kQemuBinary),
                                 kernel, initrd, std::filesystem::path(image_disk)}) {
          auto id = file_identity(file);
          if (!id.ok()) {
            planned->plan.reason = "no warm start: " + id.error().message;
            return;
          }
          inputs.file_identities.push_back(id.value());
        }
        // The engine's version too: what QEMU refused may be what a later engine offers it
        // (a vhost-user feature), so an upgrade asks again.
        planned->qemu_identity = inputs.file_identities.front() + " " + inputs.engine_version;
        planned->plan = plan_guest_start(store, inputs, planned->qemu_identity, cold);
      },
      [self = shared_from_this(), planned, done = std::move(done)] {
        if (self->finished()) return;
        self->guest_start_ = std::move(planned->plan);
        self->qemu_identity_ = planned->qemu_identity;
        log::debug("sandbox " + self->sandbox_->id() + ": " + self->guest_start_.reason);
        if (self->guest_start_.mode == GuestStart::kRestore) {
          self->verification_ = BackgroundCheck::start(
              self->sandbox_->loop_,
              [saved = *self->guest_start_.saved] { return verify_saved_state(saved); });
        }
        done(Status());
      });
}

// The guest has booted and said HELLO; nothing of this sandbox is in it yet. Stop it, write it
// out, and let it go on: this sandbox continues exactly as a cold boot would.
void Boot::save_guest_at_hello(std::function<void()> reply_to_guest) {
  auto& r = res();
  if (!guest_start_.slot || !r.qmp || !r.qmp->ready()) {
    guest_start_.slot.reset();
    return reply_to_guest();
  }
  std::weak_ptr<Boot> weak = shared_from_this();
  auto resume = [weak, reply_to_guest, attempt = attempt_] {
    auto self = weak.lock();
    if (!self || self->finished() || self->attempt_ != attempt) return;
    vm::resume_after_save(*self->res().qmp, kSaveTimeout, [weak, reply_to_guest](Status cont) {
      auto self = weak.lock();
      if (!self || self->finished()) return;
      if (!cont.ok()) {
        return self->fail_in_current_step(cont.error().with_context("resume after saving"));
      }
      self->log_milestone("resumed after saving");
      reply_to_guest();
    });
  };
  log_milestone("guest HELLO: saving");
  vm::save_guest_state_to_fd_set(*r.qmp, vm::kMigrationFd, kSaveTimeout, [weak, resume](Status st) {
    auto self = weak.lock();
    if (!self || self->finished()) return;
    self->log_milestone("saved");
    if (!st.ok()) {
      const bool permanent = is_permanent_save_refusal(st.error().message);
      (permanent ? log::info : log::warn)("warm start: could not save the booted guest (" +
                                          st.error().message + "); sandboxes boot cold");
      if (permanent) {
        mark_saving_unsupported(SavedGuestStore::open_default(), self->qemu_identity_,
                                st.error().message);
      }
      self->guest_start_.slot.reset();
      return resume();
    }
    // Stored before the guest goes on: the writable disk is copied while the guest is stopped
    // (the copy must be the disk the saved guest has mounted), and a `run` that ends at once
    // must not exit with the save still being hashed (it would be lost).
    self->commit_save(std::move(resume));
  });
}

// Hashing and renaming the save happen off the loop; `then` runs after either outcome.
void Boot::commit_save(std::function<void()> then) {
  auto slot = std::make_shared<SaveSlot>(std::move(*guest_start_.slot));
  guest_start_.slot.reset();
  const auto& options = sandbox_->options_;
  SavedGuestInfo info;
  info.image = res().image.name;
  info.image_digest = res().image.digest;
  info.memory_mib = options.memory_mib;
  info.cpus = static_cast<int>(std::ceil(options.cpus));
  info.network = res().net != nullptr;
  auto result = std::make_shared<Status>();
  std::string key = guest_start_.key;
  uv::queue_work(
      sandbox_->loop_,
      [slot, info, result, key, upper = res().upper_disk()]() mutable {
        if (auto qemu = vm::find_qemu()) info.qemu = qemu->version_line;
        *result = slot->commit(info, upper);
        slot.reset();  // releases the key's lock
        if (result->ok()) SavedGuestStore::open_default().enforce_budget(key);
      },
      [result, key, then = std::move(then)] {
        if (!result->ok()) {
          log::warn("warm start: could not store the saved guest: " + result->error().message);
        } else {
          log::debug("warm start: saved guest " + key);
        }
        then();
      });
}

// QEMU started paused with `-incoming defer`: load the saved guest, check the file was the one
// saved (verified meanwhile), run it, and hand it this sandbox's configuration.
void Boot::restore_guest(StepDone done) {
  std::weak_ptr<Boot> weak = shared_from_this();
  const auto attempt = attempt_;
  auto alive = [weak, attempt]() -> std::shared_ptr<Boot> {
    auto self = weak.lock();
    if (!self || self->finished() || self->attempt_ != attempt) return nullptr;
    return self;
  };
  vm::load_guest_state_from_fd_set(
      *res().qmp, vm::kMigrationFd, kRestoreTimeout, [alive, done](Status loaded) {
        auto self = alive();
        if (!self) return;
        if (!loaded.ok()) return done(loaded.error().with_context("restore the saved guest"));
        self->log_milestone("saved guest loaded");
        // The guest has its writable disk mounted: it runs only on the whole, checked copy.
        BackgroundCheck::when_all_done(
            {self->verification_, self->upper_copy_}, [alive, done](Status checked) {
              auto self = alive();
              if (!self) return;
              if (!checked.ok()) return done(checked.error());
              self->log_milestone("checksum verified, writable disk copied");
              self->res().qmp->execute("cont", [alive, done](Result<std::string> cont) {
                auto self = alive();
                if (!self) return;
                if (!cont.ok()) return done(cont.error().with_context("run the restored guest"));
                SavedGuestStore::open_default().touch(self->guest_start_.key);
                self->log_milestone("restored saved guest " + self->guest_start_.key + " runs");
                auto& guest = *self->res().guest;
                guest.resume_restored_guest();
                guest.handshake(self->guest_config(), done);  // READY: the guest's half of `done`
                done(Status());                               // QEMU's half: it runs
              });
            });
      });
}

// The save cannot serve this boot: say why, drop it (it is corrupt or no longer fits), and plan
// a cold boot that saves anew.
void Boot::abandon_saved_guest(const Error& e) {
  const std::string key = guest_start_.key;
  log::warn("sandbox " + sandbox_->id() + ": the saved guest " + key + " could not be restored (" +
            e.message + "); booting cold");
  auto store = SavedGuestStore::open_default();
  warn_if_failed(store.remove(key));
  bool can_save = true;
  if (is_permanent_save_refusal(e.message)) {
    mark_saving_unsupported(store, qemu_identity_, e.message);  // this QEMU cannot restore
    can_save = false;
  }
  guest_start_ = GuestStartPlan{};
  verification_.reset();
  upper_copy_.reset();  // a copy still running fills its own file, which the cold boot removes
  guest_start_.key = key;
  if (auto slot = can_save ? claim_save_slot(store, key) : std::nullopt) {
    guest_start_.mode = GuestStart::kColdAndSave;
    guest_start_.slot = std::move(slot);
  }
}

// A restore that failed after QEMU started, before READY, costs the time it took, not the
// sandbox: undo what QEMU's start acquired, drop the save, and boot cold from the files step
// (which makes a new writable disk), saving anew.
bool Boot::fall_back_to_cold_boot(const Error& e) {
  // Only once QEMU's start has begun: the undo below stops at what that step acquired, and a
  // failure before it (none is known) would otherwise undo the whole boot and go on.
  if (guest_start_.mode != GuestStart::kRestore || undo_before_qemu_ == 0) return false;
  while (undo_.size() > undo_before_qemu_) {
    auto undo = std::move(undo_.back());
    undo_.pop_back();
    undo();
  }
  if (timeout_) timeout_->stop();
  ++attempt_;
  abandon_saved_guest(e);
  // The old QEMU's NIC link goes without a word (it is going away); the next QEMU connects anew.
  net_listener_.reset();
  if (res().net && !res().net->replace_link(UniqueFd()).ok()) return false;
  run_step(files_step_index());
  return true;
}

}  // namespace matchlock::sandbox
