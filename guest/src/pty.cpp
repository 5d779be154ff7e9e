#include "pty.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <termios.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace matchlock::guest_agent {

bool set_window_size(int master_fd, uint16_t rows, uint16_t cols) {
  winsize size{};
  size.ws_row = rows == 0 ? 24 : rows;
  size.ws_col = cols == 0 ? 80 : cols;
  return ::ioctl(master_fd, TIOCSWINSZ, &size) == 0;
}

Result<PtyPair> open_pty(uint16_t rows, uint16_t cols) {
  PtyPair pair;
  pair.master.reset(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK));
  if (!pair.master) return io_error("posix_openpt: " + std::string(std::strerror(errno)));
  if (::grantpt(pair.master.get()) != 0 || ::unlockpt(pair.master.get()) != 0) {
    return io_error("unlockpt: " + std::string(std::strerror(errno)));
  }
  // TIOCGPTPEER opens the slave of exactly this master, without a path lookup in /dev/pts.
  pair.slave.reset(::ioctl(pair.master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!pair.slave) {
    char name[64];
    if (::ptsname_r(pair.master.get(), name, sizeof name) != 0) {
      return io_error("ptsname: " + std::string(std::strerror(errno)));
    }
    pair.slave.reset(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!pair.slave) return io_error(std::string("open ") + name + ": " + std::strerror(errno));
  }
  set_window_size(pair.master.get(), rows, cols);
  return pair;
}

}  // namespace matchlock::guest_agent
