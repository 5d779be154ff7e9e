#include "rpc/control_socket.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "core/paths.h"

namespace matchlock::rpc {

std::filesystem::path control_socket_path(const std::string& sandbox_id) {
  return sandbox_dir(sandbox_id) / "control.sock";
}

Result<SocketName> socket_name(const std::filesystem::path& socket_path) {
  SocketName out;
  if (socket_path.native().size() < sizeof(sockaddr_un::sun_path)) {
    out.name = socket_path.native();
    return out;
  }
  out.dir.reset(::open(socket_path.parent_path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!out.dir) {
    return io_error("open " + socket_path.parent_path().string() + ": " + std::strerror(errno));
  }
  out.name =
      "/proc/self/fd/" + std::to_string(out.dir.get()) + "/" + socket_path.filename().string();
  return out;
}

Result<UniqueFd> connect_control_socket(const std::string& sandbox_id) {
  auto path = control_socket_path(sandbox_id);
  auto name = socket_name(path);
  if (!name.ok()) return name.error();
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return io_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, name->name.c_str(), name->name.size() + 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    if (err == ENOENT || err == ECONNREFUSED || err == ENOTDIR) {
      return not_found("no control socket at " + path.string());
    }
    return io_error("connect " + path.string() + ": " + std::strerror(err));
  }
  return fd;
}

}  // namespace matchlock::rpc
