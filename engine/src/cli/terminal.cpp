#include "cli/terminal.h"

#include <sys/ioctl.h>

#include <initializer_list>

namespace matchlock::cli {

WindowSize terminal_size() {
  winsize ws{};
  for (int fd : {1, 0, 2}) {
    if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
      return {ws.ws_row, ws.ws_col};
    }
  }
  return {};
}

}  // namespace matchlock::cli
