// What a running sandbox reports to whoever watches it (rpc `event` notifications): a guest
// file operation its VFS hooks observed, or an HTTP exchange / blocked connection of its
// interception proxy. One type, so both travel the same way to every client.
#pragma once

#include <variant>

#include "net/policy/network_event.h"
#include "vfs/file_operation.h"

namespace matchlock::sandbox {

struct FileEvent {
  vfs::FileOperation op;
  int error = 0;  // > 0: the errno the guest got
};

using NetworkEvent = net::policy::NetworkEvent;

using SandboxEvent = std::variant<FileEvent, NetworkEvent>;

}  // namespace matchlock::sandbox
