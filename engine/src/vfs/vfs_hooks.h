// The hook point of the file server: before a guest operation runs it may be refused (with an
// errno) or, for writes, have its data replaced; after it ran it is observed (events, SDK
// after-hooks). Implemented by vfs/hook_pipeline (rules from the command line or rpc, SDK
// callbacks over a unix socket); the FUSE server only sees this interface.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "vfs/file_operation.h"

namespace matchlock::vfs {

struct HookDecision {
  int error = 0;                       // > 0: the operation fails with this errno, unrun
  std::optional<std::string> replace;  // writes only: the bytes written instead (the guest
                                       // is still told its own length was written)
};

class VfsHooks {
 public:
  virtual ~VfsHooks() = default;
  // Cheap and synchronous: does any before-rule match? If not, the server runs the operation
  // without the asynchronous round trip.
  virtual bool wants_before(const FileOperation& op) const = 0;
  // May answer later (an SDK callback); `done` is called exactly once, on the loop. `data` is
  // the write's bytes (empty for other ops) and stays valid until `done` is called.
  virtual void before(const FileOperation& op, std::string_view data,
                      std::function<void(HookDecision)> done) = 0;
  // After every operation that reached the server (success or failure). `error` is the errno
  // the guest got (0 = success); op.size is the bytes transferred.
  virtual void after(const FileOperation& op, int error) = 0;
};

}  // namespace matchlock::vfs
