#include "sandbox/crash_report.h"

#include <algorithm>

namespace matchlock::sandbox {
namespace {

constexpr size_t kMaxQuotedChars = 160;

// Guest text made fit for one line of a host error: printable ASCII only, bounded.
std::string quoted_guest_text(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (out.size() == kMaxQuotedChars) break;
    out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// The text after the last "Kernel panic - not syncing: " in `console`, to the end of its line.
std::string_view panic_cause(std::string_view console) {
  constexpr std::string_view kMarker = "Kernel panic - not syncing: ";
  size_t at = console.rfind(kMarker);
  if (at == std::string_view::npos) return {};
  std::string_view rest = console.substr(at + kMarker.size());
  rest = rest.substr(0, std::min(rest.find('\n'), rest.size()));
  if (!rest.empty() && rest.back() == '\r') rest.remove_suffix(1);
  return rest;
}

}  // namespace

std::string vm_exit_reason(const vm::ExitInfo& info, std::string_view console_tail) {
  if (info.signal == 0) {
    std::string_view cause = panic_cause(console_tail);
    if (!cause.empty()) return "the guest kernel panicked (" + quoted_guest_text(cause) + ")";
    if (console_tail.find("Kernel panic") != std::string_view::npos) {
      return "the guest kernel panicked";
    }
  }
  if (info.signal != 0) return "the VM was killed by signal " + std::to_string(info.signal);
  return "the VM exited with status " + std::to_string(info.exit_code);
}

std::string guest_lost_reason(std::string_view channel_error) {
  return "the guest agent's channel was lost (" + std::string(channel_error) + ")";
}

std::string crash_message(std::string_view id, std::string_view reason) {
  return "sandbox " + std::string(id) + " stopped unexpectedly: " + std::string(reason);
}

}  // namespace matchlock::sandbox
