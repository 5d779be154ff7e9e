#include "boot_probe.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <string>
#include <string_view>

#include "core/unique_fd.h"
#include "fs_util.h"
#include "shutdown.h"

namespace matchlock::guest_agent {

bool cmdline_has_word(std::string_view cmdline, std::string_view word) {
  // By hand: a std::istringstream would set up the C++ locale first (about 20 ms under TCG, on
  // every boot).
  if (word.empty()) return false;
  for (size_t at = cmdline.find(word); at != std::string_view::npos;
       at = cmdline.find(word, at + 1)) {
    size_t end = at + word.size();
    bool starts = at == 0 || std::isspace(static_cast<unsigned char>(cmdline[at - 1]));
    bool ends = end == cmdline.size() || std::isspace(static_cast<unsigned char>(cmdline[end]));
    if (starts && ends) return true;
  }
  return false;
}

bool boot_probe_requested() {
  auto cmdline = read_file("/proc/cmdline", 4096);
  return cmdline && cmdline_has_word(*cmdline, "matchlock.probe=1");
}

void answer_boot_probe() {
  static constexpr char kMarker[] = "MATCHLOCK_PROBE_OK\n";
  for (const char* device : {"/dev/console", "/dev/ttyS0"}) {
    UniqueFd fd(::open(device, O_WRONLY | O_NOCTTY | O_CLOEXEC));
    if (fd && ::write(fd.get(), kMarker, sizeof kMarker - 1) == sizeof kMarker - 1) break;
  }
  power_off();
}

}  // namespace matchlock::guest_agent
