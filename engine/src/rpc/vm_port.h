// What the rpc server needs from a sandbox, as a small interface: the real implementation wraps
// sandbox::Sandbox (sandbox_vm.h); unit tests drive the server with a fake and no VM.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "sandbox/sandbox.h"
#include "sandbox/sandbox_options.h"

namespace matchlock::rpc {

// One running process (mirrors sandbox::ExecHandle).
class ExecPort {
 public:
  virtual ~ExecPort() = default;
  virtual void write_stdin(std::string bytes) = 0;
  virtual void close_stdin() = 0;
  virtual void resize(uint16_t rows, uint16_t cols) = 0;
  virtual void cancel(uint32_t grace_ms) = 0;
  virtual size_t stdin_backlog() const = 0;
  virtual void set_on_stdin_drained(std::function<void()> fn) = 0;
};

class VmPort {
 public:
  virtual ~VmPort() = default;
  virtual std::string id() const = 0;
  // The image's ENTRYPOINT + CMD after the create overrides (empty: nothing to launch).
  virtual std::vector<std::string> entrypoint_command() const = 0;
  // Events may fire before exec returns (a closed sandbox reports on_error immediately).
  virtual std::shared_ptr<ExecPort> exec(const sandbox::ExecSpec& spec,
                                         sandbox::ExecEvents events) = 0;
  virtual void close(uint64_t graceful_ms, std::function<void(Status)> done) = 0;
  // Why the next close() happens, for the sandbox's lifecycle history (a timeout).
  virtual void set_stop_reason(const std::string& /*reason*/) {}
  virtual void set_on_terminated(std::function<void(const Error&)> fn) = 0;
  // Runtime allow-list changes (sandbox::Sandbox::allow_list_add/remove): kUnsupported unless
  // the sandbox runs in interception mode.
  virtual Result<sandbox::AllowListChange> allow_list_add(const std::vector<std::string>&) {
    return Error(
        ErrorCode::kUnsupported,
        "allow-list updates unavailable: sandbox was started without network interception");
  }
  virtual Result<sandbox::AllowListChange> allow_list_remove(const std::vector<std::string>& h) {
    return allow_list_add(h);
  }
  // Host listeners relayed to guest ports (sandbox::Sandbox::forward_ports).
  virtual Result<std::unique_ptr<sandbox::PortForwarder>> forward_ports(
      const std::vector<sandbox::PortForwardRule>&) {
    return Error(ErrorCode::kUnsupported, "VM backend does not support port-forward");
  }
  // Guest files through the agent (sandbox::Sandbox::read_file/write_file/list_files).
  virtual void read_file(const std::string& path, uint64_t offset, uint64_t limit,
                         std::function<void(Result<sandbox::GuestFileChunk>)> done) {
    done(Error(ErrorCode::kUnsupported, "VM backend does not support files"));
  }
  virtual void write_file(sandbox::GuestFileWrite request, std::function<void(Status)> done) {
    done(Error(ErrorCode::kUnsupported, "VM backend does not support files"));
  }
  virtual void list_files(const std::string& path,
                          std::function<void(Result<std::vector<sandbox::GuestFileInfo>>)> done) {
    done(Error(ErrorCode::kUnsupported, "VM backend does not support files"));
  }
  // sandbox::Sandbox::stat_file/make_dir/remove_file/rename_file.
  virtual void stat_file(const std::string& path,
                         std::function<void(Result<std::optional<sandbox::GuestFileInfo>>)> done) {
    done(Error(ErrorCode::kUnsupported, "VM backend does not support files"));
  }
  virtual void make_dir(sandbox::GuestMakeDir request, std::function<void(Status)> done) {
    done(Error(ErrorCode::kUnsupported, "VM backend does not support files"));
  }
  virtual void remove_file(const std::string& path, bool recursive,
                           std::function<void(Status)> done) {
    done(Error(ErrorCode::kUnsupported, "VM backend does not support files"));
  }
  virtual void rename_file(const std::string& old_path, const std::string& new_path,
                           std::function<void(Status)> done) {
    done(Error(ErrorCode::kUnsupported, "VM backend does not support files"));
  }
  // VFS operations observed by the sandbox's hooks, HTTP exchanges and blocked connections of
  // its interception proxy (rpc `event` notifications; sandbox::Sandbox::set_on_event).
  virtual void set_on_event(std::function<void(const sandbox::SandboxEvent&)>) {}
};

using VmCreateCallback = std::function<void(Result<std::shared_ptr<VmPort>>)>;
using VmFactory = std::function<void(sandbox::SandboxOptions, VmCreateCallback)>;

}  // namespace matchlock::rpc
