// What an unprivileged exec sees of the kernel's control files: its own mount namespace in which
// /sys (with everything mounted below it), /proc/sys and /proc/sysrq-trigger are read-only. A
// workload running as guest root could otherwise unbind the agent's virtio-serial port through
// sysfs and speak to the host in the agent's name, or reach code running with every capability
// through /proc/sys (kernel.modprobe, kernel.core_pattern). The agent's own view is unchanged.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/unique_fd.h"

namespace matchlock::guest_agent {

// Makes the calling process's own copy of the view: a new mount namespace, a slave of the
// caller's, with the kernel's control files read-only. Needs CAP_SYS_ADMIN. Returns 0 or an
// errno value; `failed_path` names the mount that failed.
int enter_workload_view(std::string& failed_path);

// The view made once and shared by every unprivileged exec, which joins it with setns: making
// it per exec (a copy of every mount, then the remounts) cost 20-26 ms of each exec under TCG.
// Made at boot, before HELLO, so a saved guest has it. The agent's mounts are made shared first
// and the view is their slave: what the agent mounts later (the workspace, data disks, the
// build store) appears in it, and nothing mounted in it reaches the agent. The namespace is
// held by an fd alone; the process that made it is gone before HELLO.
class WorkloadView {
 public:
  static Result<WorkloadView> create();
  // The namespace's fd (close-on-exec), for join_workload_view in an exec's child.
  int fd() const { return ns_.get(); }

 private:
  explicit WorkloadView(UniqueFd ns) : ns_(std::move(ns)) {}
  UniqueFd ns_;
};

// In an exec's child, before the capability drop (setns needs CAP_SYS_ADMIN): enters the
// shared view. Returns 0 or an errno value.
int join_workload_view(int view_fd);

// The mount points of a /proc/self/mountinfo text that are `top` or lie below it, unescaped
// (mountinfo writes a space as \040), in the order listed.
std::vector<std::string> mount_points_below(std::string_view mountinfo, std::string_view top);

}  // namespace matchlock::guest_agent
