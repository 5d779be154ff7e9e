// Build roots (EXEC_OPEN "build_root", protocol v7): a process run in its own mount and pid
// namespaces, on an overlay of build layers, so that everything it changes lands in one new
// layer directory and nothing it starts outlives it.
//
// Layers are directories on the upper disk, which the agent mounts a second time (the sandbox's
// own root overlay uses the same filesystem); the base disk is the lowest layer. The process
// tree: the agent forks (clone with new namespaces) the namespace's pid 1, which mounts the
// root, chroots and forks the command, forwards signals to it, waits for it, kills whatever is
// left in the namespace, removes the mount points it had to create from the new layer and
// exits with the command's status.
#pragma once

#include <sys/types.h>

#include <string>
#include <variant>
#include <vector>

#include "core/result.h"
#include "exec_request.h"

namespace matchlock::guest_agent {

// Where layers live. The agent's come from ensure_build_storage(); tests use temp dirs.
struct BuildStorage {
  std::string layers_dir;   // layers/<id>: overlay upper dirs, later lower dirs
  std::string work_dir;     // work/<id>: overlayfs work dirs
  std::string base_dir;     // the image's root, below every layer
  std::string mount_point;  // an empty directory each namespace mounts its root on
};

// Mounts the upper disk at /run/matchlock-build/disk and the base disk read-only at
// /run/matchlock-build/base on first use (later calls return the same paths).
Result<BuildStorage> ensure_build_storage();

// Why the namespace's setup failed: the step ("mount overlay on /x") and errno.
struct BuildRootFailure {
  std::string step;
  int error = 0;
};

// What pid 1 needs after its chroot to clean up the new layer.
struct PreparedBuildRoot {
  int upper_fd = -1;  // the new layer directory (close-on-exec)
  // Paths relative to the layer that setup created there (mount points and their parents),
  // in creation order; removed in reverse when empty or a plain file.
  std::vector<std::string> created;
};

// In the new namespaces' pid 1 (single-threaded, before the command is forked): creates the
// layer and its work dir, mounts the overlay and the pseudo filesystems, binds the guest's
// resolv.conf, hosts and hostname, and chroots into the new root.
std::variant<PreparedBuildRoot, BuildRootFailure> enter_build_root(const BuildRoot& root,
                                                                   const BuildStorage& storage);

// Forks with the new mount and pid namespaces (the child is their pid 1): fork()'s contract.
pid_t fork_into_build_namespaces();

// In the command (pid 2 of the namespace): its own process group, in the foreground of the
// tty when there is one. Returns 0 or errno.
int become_build_command(bool tty);

// Pid 1 after forking `command`: forwards signals to it (to its group without a tty), reaps
// everything, and once the command is gone kills the rest, cleans the layer and exits with the
// command's status (128+n for a signal).
[[noreturn]] void supervise_build_command(pid_t command, bool tty, PreparedBuildRoot& root);

// Removes layers/<id> and work/<id> (never through a symlink). A missing layer is success.
Status drop_layer(const BuildStorage& storage, const std::string& id);

}  // namespace matchlock::guest_agent
