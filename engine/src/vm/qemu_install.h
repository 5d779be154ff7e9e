// The QEMU this host would run sandboxes with, and its version: what `matchlock version` and
// `setup linux` report. Blocking (runs `qemu-system-x86_64 --version`).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace matchlock::vm {

struct QemuVersion {
  int major = 0, minor = 0, micro = 0;
  bool at_least(int want_major, int want_minor) const {
    return major > want_major || (major == want_major && minor >= want_minor);
  }
};

// From `qemu-system-x86_64 --version`'s first line: "QEMU emulator version 7.2.22 (Debian …)".
std::optional<QemuVersion> parse_qemu_version(std::string_view first_line);

struct QemuInstall {
  std::string path;
  std::string version_line;  // first line of --version ("" if it printed nothing)
  std::optional<QemuVersion> version;
};

// The qemu-system-x86_64 on $PATH (the one sandboxes run), with its version; nullopt if none.
std::optional<QemuInstall> find_qemu();

}  // namespace matchlock::vm
