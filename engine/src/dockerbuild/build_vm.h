// One build VM: a sandbox booted from a stage's root image, driven step by step. A build is a
// sequence, so this facade is synchronous: each call runs the private libuv loop until its
// operation is done, which keeps the VM's network stack and guest channel serviced while the
// caller waits. Blocking host work (hashing, compressing layers) goes through run_blocking() so
// it runs on the thread pool while the loop keeps turning.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "sandbox/exec.h"
#include "sandbox/sandbox_options.h"

namespace matchlock::sandbox {
class Sandbox;
}

namespace matchlock::dockerbuild {

class BuildLoop {
 public:
  BuildLoop();
  ~BuildLoop();
  BuildLoop(const BuildLoop&) = delete;
  BuildLoop& operator=(const BuildLoop&) = delete;

  uv_loop_t* get() { return &loop_; }
  // Runs the loop until `done()` is true or the build is interrupted (SIGINT/SIGTERM/SIGHUP).
  // Returns false if interrupted.
  bool run_until(const std::function<bool()>& done);
  // Runs `work` on the thread pool while the loop keeps serving the VM.
  void run_blocking(std::function<void()> work);
  // The signal that interrupted the build (0 if none); once set, every wait returns at once.
  int interrupted() const { return interrupted_; }
  void set_on_interrupt(std::function<void()> fn) { on_interrupt_ = std::move(fn); }

 private:
  uv_loop_t loop_{};
  int interrupted_ = 0;
  std::function<void()> on_interrupt_;
  struct Signals;
  std::unique_ptr<Signals> signals_;
};

class BuildVm {
 public:
  // Boots the sandbox; the error names what failed.
  static Result<std::unique_ptr<BuildVm>> boot(BuildLoop& loop, sandbox::SandboxOptions options);
  ~BuildVm();

  struct Process {
    std::function<void(sandbox::OutputStream, std::string_view)> on_output;
    // Feeds stdin: called whenever the guest can take more; returns "" at the end of input.
    std::function<Result<std::string>()> next_stdin;
  };
  // Runs one process to its end; the exit code, or an error if it could not run.
  Result<int> run(const sandbox::ExecSpec& spec, const Process& process);
  // Stops the VM and removes its files.
  void close();
  std::string console_tail() const;

 private:
  BuildVm(BuildLoop& loop, std::shared_ptr<sandbox::Sandbox> sandbox);
  BuildLoop& loop_;
  std::shared_ptr<sandbox::Sandbox> sandbox_;
};

}  // namespace matchlock::dockerbuild
