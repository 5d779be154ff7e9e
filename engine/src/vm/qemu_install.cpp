#include "vm/qemu_install.h"

#include <charconv>

#include "core/subprocess.h"
#include "vm/qemu_command.h"

namespace matchlock::vm {
namespace {

bool parse_int(std::string_view& s, int& out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc()) return false;
  s.remove_prefix(static_cast<size_t>(ptr - s.data()));
  return true;
}

}  // namespace

std::optional<QemuVersion> parse_qemu_version(std::string_view line) {
  constexpr std::string_view kMarker = "version ";
  const size_t at = line.find(kMarker);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view s = line.substr(at + kMarker.size());
  QemuVersion v;
  if (!parse_int(s, v.major) || s.empty() || s[0] != '.') return std::nullopt;
  s.remove_prefix(1);
  if (!parse_int(s, v.minor)) return std::nullopt;
  if (!s.empty() && s[0] == '.') {
    s.remove_prefix(1);
    if (!parse_int(s, v.micro)) return std::nullopt;
  }
  return v;
}

std::optional<QemuInstall> find_qemu() {
  auto path = find_program(kQemuBinary);
  if (!path.ok()) return std::nullopt;
  QemuInstall q;
  q.path = *path;
  if (auto r = run_process({q.path, "--version"}, CaptureStream::kStdout); r.ok()) {
    q.version_line = r->output.substr(0, r->output.find('\n'));
    q.version = parse_qemu_version(q.version_line);
  }
  return q;
}

}  // namespace matchlock::vm
