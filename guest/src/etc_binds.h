// The /etc files every CONFIG rewrites (hostname, hosts, resolv.conf) live on a small tmpfs of
// their own, each bound over the image's file, as docker provides them to a container. Two
// reasons: a restored guest's first write through overlayfs into ext4 costs TCG a translation of
// that whole path (~38 ms against ~10 ms for the tmpfs's), and the files never reach the
// writable layer. What the workload sees: each is a regular file it may read and write (it
// starts with the image's content); like docker's, it cannot be renamed over or removed (EBUSY).
#pragma once

#include "core/result.h"

namespace matchlock::guest_agent {

// Before HELLO, in the sandbox's root, before the workload's view is made (it copies the mount
// table). An image's symlink there (resolv.conf -> /run/...) is replaced by a file; /etc is made
// if the image has none.
Status bind_config_etc_files();

}  // namespace matchlock::guest_agent
