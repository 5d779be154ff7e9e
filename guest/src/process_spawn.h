// Starts the process of an exec session: user switch, cwd, sandbox policy, PATH search, exec.
#pragma once

#include <sys/types.h>

#include <string>
#include <variant>

#include "build_root.h"
#include "core/unique_fd.h"
#include "exec_request.h"
#include "user_cache.h"

namespace matchlock::guest_agent {

struct SpawnedProcess {
  pid_t pid = -1;
  bool tty = false;
  UniqueFd stdin_writer;   // invalid when the request has no stdin
  UniqueFd stdout_reader;  // with a tty: the pty master
  UniqueFd stderr_reader;  // invalid with a tty
};

// Why the process never ran, in the wording the host shows the user, and the exit code a shell
// would report (127 command not found, 126 otherwise).
struct SpawnFailure {
  std::string message;
  int exit_code = 126;
};

// All agent-side fds are non-blocking and close-on-exec. A failed exec is detected through a
// close-on-exec pipe, so on success the process is known to be running the target program.
// A request with build_root needs `build_storage` (see build_root.h): its process runs in new
// namespaces, a builtin runs in the child instead of argv. An unprivileged process joins
// `workload_view` (WorkloadView::fd, workload_view.h), or gets a view of its own when it is -1
// or the process is a build step's. The user is resolved through `users` (a build step's inside
// its root, without it).
std::variant<SpawnedProcess, SpawnFailure> spawn_process(const ExecRequest& request,
                                                         const BuildStorage* build_storage,
                                                         int workload_view, UserCache& users);

}  // namespace matchlock::guest_agent
