// A QEMU child process owned by the sandbox's owner process. QEMU dies with its owner
// (PR_SET_PDEATHSIG) and the owner learns of QEMU's exit through a pidfd on the loop. It runs
// confined (qemu_confinement.h) and holds only the fds it is given.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/unique_fd.h"
#include "core/uv.h"
#include "vm/qemu_confinement.h"

namespace matchlock::vm {

struct ExitInfo {
  int exit_code = -1;  // when exited normally
  int signal = 0;      // when killed by a signal
  std::string describe() const;
};

class QemuProcess {
 public:
  // Spawns argv with `inherit` fds dup2()ed to their map keys (e.g. {4: ctl}) and every other
  // fd closed; stdin is /dev/null, stdout and stderr go to `output_fd` (the owner's own if -1).
  // The child applies `confinement` before exec, and exits 126 after saying why on stderr if it
  // cannot.
  static Result<std::unique_ptr<QemuProcess>> spawn(uv_loop_t* loop,
                                                    const std::vector<std::string>& argv,
                                                    const std::map<int, int>& inherit,
                                                    int output_fd, const Confinement& confinement,
                                                    std::function<void(ExitInfo)> on_exit);
  ~QemuProcess();  // SIGKILLs the child if it still runs

  pid_t pid() const { return pid_; }
  bool running() const { return !exited_; }
  void kill(int signo);

 private:
  QemuProcess(uv_loop_t* loop, pid_t pid, UniqueFd pidfd, std::function<void(ExitInfo)> on_exit);
  void on_pidfd_readable();

  pid_t pid_;
  UniqueFd pidfd_;
  uv::Handle<uv_poll_t> poll_;
  bool exited_ = false;
  std::function<void(ExitInfo)> on_exit_;
};

}  // namespace matchlock::vm
