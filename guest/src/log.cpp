#include "log.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "core/unique_fd.h"

namespace matchlock::guest_agent {
namespace {

// Opened lazily: /dev may not be mounted yet the first time we log. Kept open across the
// switch to the new root, the device handle stays valid.
int console_fd() {
  static UniqueFd console;
  if (!console) console.reset(::open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC));
  return console ? console.get() : STDERR_FILENO;
}

}  // namespace

void log_line(std::string_view line) {
  std::string text = "matchlock-guest: ";
  text.append(line);
  text.push_back('\n');
  // Best effort: nothing useful can be done if the console itself fails.
  ssize_t ignored = ::write(console_fd(), text.data(), text.size());
  (void)ignored;
}

void log_errno(std::string_view what) {
  int saved = errno;
  std::string text(what);
  text += ": ";
  text += std::strerror(saved);
  log_line(text);
  errno = saved;
}

}  // namespace matchlock::guest_agent
