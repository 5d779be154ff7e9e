// The VfsHooks of a sandbox: HookSettings (rules from rpc create vfs.interception) applied to
// every guest file operation the FUSE server sees.
//
// Before an operation: the matching before-phase rules run in order. A block rule refuses it
// (first block wins); a callback rule asks the SDK over `callback_socket` (one unix stream
// connection per call, one JSON line each way, see docs/files.md) and the SDK answers allow,
// block or mutate_write (new bytes for a write). A callback that times out, cannot be reached,
// answers garbage or an `error` FAILS CLOSED: the operation fails with EPERM and a warning names
// the rule, the path and why.
// After an operation: an event to the sink (when emit_events or any rule exists) and after-phase
// callback rules notified fire-and-forget (at most kMaxAfterCallsInFlight at once; more dropped).
//
// Lifetime: calls in flight keep the settings alive; a before() whose pipeline is destroyed
// still gets its `done` (from the callback's answer or deadline), so the server's contract of
// exactly one `done` holds.
//
// Wiring (sandbox boot): HookPipeline(loop, options.vfs.hooks, sink) where the sink forwards to
// Sandbox's on_file_event, handed to the VFS service as its VfsHooks.
//
// THREAT MODEL: the SDK answer is another process's text: parsed defensively, bounded by the
// line-call client; the guest's paths and data are only passed through, never interpreted.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "vfs/hook_rules.h"
#include "vfs/vfs_hooks.h"

namespace matchlock::vfs {

class HookPipeline : public VfsHooks {
 public:
  static constexpr size_t kMaxAfterCallsInFlight = 32;
  using EventSink = std::function<void(const FileOperation&, int error)>;

  HookPipeline(uv_loop_t* loop, HookSettings settings, EventSink sink);
  ~HookPipeline() override;

  bool wants_before(const FileOperation& op) const override;
  void before(const FileOperation& op, std::string_view data,
              std::function<void(HookDecision)> done) override;
  void after(const FileOperation& op, int error) override;

  // After-phase notifications dropped because too many were in flight.
  uint64_t dropped_after_calls() const;

 private:
  struct Shared;
  struct BeforeRun;
  static void next_before(const std::shared_ptr<Shared>& shared,
                          const std::shared_ptr<BeforeRun>& run);

  std::shared_ptr<Shared> shared_;
};

// The callback request line (without the newline) for `op` at `phase`; `data` is included as
// data_base64 when `with_data`. Exposed for tests.
std::string callback_request(const HookRule& rule, const FileOperation& op, std::string_view phase,
                             std::string_view data, bool with_data, int error);

// The SDK's answer to a before-phase callback, or why it is unusable (=> fail closed).
Result<HookDecision> parse_callback_answer(std::string_view line, const FileOperation& op);

}  // namespace matchlock::vfs
