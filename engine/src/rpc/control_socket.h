// Where a sandbox's control socket lives ($MATCHLOCK_HOME/vms/<id>/control.sock) and how both
// ends name it: a sockaddr_un holds only 107 bytes of path, so a long MATCHLOCK_HOME is reached
// through /proc/self/fd/<directory fd> instead.
#pragma once

#include <filesystem>
#include <string>

#include "core/result.h"
#include "core/unique_fd.h"

namespace matchlock::rpc {

std::filesystem::path control_socket_path(const std::string& sandbox_id);

// A name for `socket_path` that fits a sockaddr_un. `dir` keeps the directory open while the
// name is in use (only for the /proc/self/fd form).
struct SocketName {
  std::string name;
  UniqueFd dir;
};
Result<SocketName> socket_name(const std::filesystem::path& socket_path);

// Connects to a sandbox's control socket (blocking, for CLI clients). kNotFound when there is
// no socket or nobody listens on it (the owner is gone).
Result<UniqueFd> connect_control_socket(const std::string& sandbox_id);

}  // namespace matchlock::rpc
