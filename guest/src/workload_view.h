// What an unprivileged exec sees of the kernel's control files: its own mount namespace in which
// /sys (with everything mounted below it), /proc/sys and /proc/sysrq-trigger are read-only. A
// workload running as guest root could otherwise unbind the agent's virtio-serial port through
// sysfs and speak to the host in the agent's name, or reach code running with every capability
// through /proc/sys (kernel.modprobe, kernel.core_pattern). The agent's own view is unchanged.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace matchlock::guest_agent {

// Runs in the exec's child, after fork and before the capability drop (it needs
// CAP_SYS_ADMIN). Returns 0 or an errno value; `failed_path` names the mount that failed.
int enter_workload_view(std::string& failed_path);

// The mount points of a /proc/self/mountinfo text that are `top` or lie below it, unescaped
// (mountinfo writes a space as \040), in the order listed.
std::vector<std::string> mount_points_below(std::string_view mountinfo, std::string_view top);

}  // namespace matchlock::guest_agent
