// Restrictions for unprivileged exec sessions: capability bounding set, no_new_privs, seccomp.
#pragma once

namespace matchlock::guest_agent {

// Runs in the child before setuid (dropping from the bounding set needs CAP_SETPCAP).
// Returns 0 or an errno value.
int drop_dangerous_capabilities();

// Runs in the child just before exec: no_new_privs, then the seccomp filter. 0 or an errno.
int restrict_syscalls();

}  // namespace matchlock::guest_agent
