#include "sandbox/warm_start.h"

#include <sys/stat.h>

#include <fstream>

#include "core/log.h"
#include "core/uv.h"
#include "image/digest.h"
#include "sandbox/sparse_file.h"

namespace matchlock::sandbox {
namespace fs = std::filesystem;

namespace {

fs::path unsupported_marker(const SavedGuestStore& store, const std::string& qemu_identity) {
  return store.root() /
         ("cannot-save-" + image::digest_hex(image::sha256_digest(qemu_identity)).substr(0, 16));
}

}  // namespace

GuestStartPlan plan_guest_start(const SavedGuestStore& store, const SavedGuestKeyInputs& inputs,
                                const std::string& qemu_identity, bool cold_requested) {
  GuestStartPlan plan;
  if (cold_requested) {
    plan.reason = "cold boot requested";
    return plan;
  }
  plan.key = saved_guest_key(inputs);
  if (auto saved = store.find(plan.key)) {
    plan.mode = GuestStart::kRestore;
    plan.saved = std::move(saved);
    plan.reason = "saved guest " + plan.key;
    return plan;
  }
  std::error_code ec;
  if (fs::exists(unsupported_marker(store, qemu_identity), ec)) {
    plan.reason =
        "this QEMU cannot save guests (" + unsupported_marker(store, qemu_identity).string() + ")";
    return plan;
  }
  auto slot = store.try_begin_save(plan.key);
  if (!slot.ok()) {
    plan.reason = "no save: " + slot.error().message;
  } else if (!slot->has_value()) {
    plan.reason = "another boot is saving " + plan.key;
  } else {
    plan.mode = GuestStart::kColdAndSave;
    plan.slot = std::move(*slot.value());
    plan.reason = "no saved guest yet: saving " + plan.key;
  }
  return plan;
}

std::optional<SaveSlot> claim_save_slot(const SavedGuestStore& store, const std::string& key) {
  auto slot = store.try_begin_save(key);
  if (!slot.ok() || !slot->has_value()) return std::nullopt;
  return std::move(*slot.value());
}

void mark_saving_unsupported(const SavedGuestStore& store, const std::string& qemu_identity,
                             const std::string& reason) {
  std::ofstream(unsupported_marker(store, qemu_identity)) << reason << "\n";
}

bool is_permanent_save_refusal(const std::string& qmp_error) {
  // "exit-on-error": a QEMU before 9.1 cannot load a save and stay up to say why.
  return qmp_error.find("non-migratable") != std::string::npos ||
         qmp_error.find("exit-on-error") != std::string::npos ||
         qmp_error.find("mapped-ram") != std::string::npos ||
         qmp_error.find("does not support migration") != std::string::npos ||
         qmp_error.find("Migration disabled") != std::string::npos;
}

Status copy_saved_upper_disk(const SavedGuest& saved, int out_fd, const std::filesystem::path& to) {
  auto digest = copy_sparse_file_into(saved.upper_file, out_fd, to);
  if (!digest.ok()) return digest.error().with_context("copy the saved writable disk");
  struct stat st {};
  if (digest.value() != saved.info.upper_digest || ::fstat(out_fd, &st) != 0 ||
      static_cast<uint64_t>(st.st_size) != saved.info.upper_bytes) {
    return Error(ErrorCode::kIo, "the saved writable disk " + saved.upper_file.string() +
                                     " does not match its checksum (corrupt)");
  }
  return Status();
}

Status verify_saved_state(const SavedGuest& saved) {
  uint64_t bytes = 0;
  auto got = digest_of_file(saved.state_file, &bytes);
  if (!got.ok()) return got.error();
  if (got.value() != saved.info.state_digest || bytes != saved.info.state_bytes) {
    return Error(ErrorCode::kIo, "the saved guest " + saved.state_file.string() +
                                     " does not match its checksum (corrupt)");
  }
  return Status();
}

std::shared_ptr<BackgroundCheck> BackgroundCheck::start(uv_loop_t* loop,
                                                        std::function<Status()> check) {
  auto v = std::make_shared<BackgroundCheck>();
  auto result = std::make_shared<Status>();
  uv::queue_work(
      loop, [result, check = std::move(check)] { *result = check(); },
      [v, result] {
        v->result_ = *result;
        if (auto w = std::exchange(v->waiter_, nullptr)) w(*v->result_);
      });
  return v;
}

void BackgroundCheck::when_done(std::function<void(Status)> done) {
  if (result_) return done(*result_);
  waiter_ = std::move(done);
}

void BackgroundCheck::when_all_done(std::vector<std::shared_ptr<BackgroundCheck>> checks,
                                    std::function<void(Status)> done) {
  if (checks.empty()) return done(Status());
  auto first = checks.front();
  checks.erase(checks.begin());
  first->when_done([rest = std::move(checks), done = std::move(done)](Status st) mutable {
    if (!st.ok()) return done(std::move(st));
    when_all_done(std::move(rest), std::move(done));
  });
}

}  // namespace matchlock::sandbox
