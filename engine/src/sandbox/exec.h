// What sandbox callers (cli, rpc) use to run one process: the request, its events, and a
// handle on the running process. Owned by sandbox so callers need not know the guest channel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace matchlock::guest_client {
class ExecHandle;
}

namespace matchlock::sandbox {

// A stack of build layers in the guest (EXEC_OPEN "build_root", see guest_protocol/protocol.h).
// Ids are [a-z0-9_-]{1,64}; the guest refuses anything else.
struct BuildRoot {
  std::vector<std::string> lower;  // top first, above the image's base disk
  std::string upper;               // the new layer (or, for a builtin, the layer it acts on)
};

// One process to run. Unset fields take the sandbox's defaults (image config, -e, -w, -u).
struct ExecSpec {
  std::vector<std::string> argv;
  std::vector<std::string> extra_env;  // "K=V", highest precedence
  std::optional<std::string> workdir;
  std::optional<std::string> user;
  bool tty = false;
  uint16_t rows = 24, cols = 80;
  bool stdin_open = false;
  // Run in a fresh overlay of build layers (image builds) instead of the sandbox's root.
  std::optional<BuildRoot> build_root;
  // "layer-export" | "layer-apply" | "layer-drop": the guest runs that instead of argv, on
  // build_root->upper. "" = run argv.
  std::string builtin;
};

// Which of the process's output streams bytes came from (with a tty, everything is stdout).
enum class OutputStream : uint8_t { kStdout = 1, kStderr = 2 };

struct ExecEvents {
  std::function<void(int pid)> on_started;
  // `consumed` must be called once the bytes have been passed on; it returns credit to the guest,
  // so a slow consumer slows the guest process down instead of growing host buffers.
  std::function<void(OutputStream stream, std::string_view bytes, std::function<void()> consumed)>
      on_output;
  std::function<void(OutputStream stream)> on_eof;
  std::function<void(int exit_code)> on_exit;
  // The process could not start (exit_code is what a shell would report, e.g. 127), or the
  // sandbox or its channel went away (exit_code -1). Exactly one of on_exit / on_error is called.
  std::function<void(const Error& error, int exit_code)> on_error;
};

// The caller's handle on one process. Methods are no-ops once the process has finished, and
// always on a handle for a process that was refused (a closed sandbox).
class ExecHandle {
 public:
  ExecHandle() = default;
  explicit ExecHandle(std::shared_ptr<guest_client::ExecHandle> process);
  ~ExecHandle();

  void write_stdin(std::string bytes);
  void close_stdin();
  void resize(uint16_t rows, uint16_t cols);
  void signal(int signo);
  void cancel(uint32_t grace_ms);
  // Bytes accepted by write_stdin but not yet sent to the guest (waiting for credit).
  size_t stdin_backlog() const;
  void set_on_stdin_drained(std::function<void()> fn);
  bool finished() const;

 private:
  std::shared_ptr<guest_client::ExecHandle> process_;
};

}  // namespace matchlock::sandbox
