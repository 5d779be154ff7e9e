// Facts about the host that `version` and `setup linux` report: the QEMU matchlock would run,
// and who may open /dev/kvm.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace matchlock::cli {

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

// Runs argv (argv[0] an absolute path) with stdin and stderr on /dev/null and returns the first
// line it printed on stdout.
Result<std::string> first_output_line(const std::vector<std::string>& argv);

// Who `setup` checks for: the user who ran `sudo matchlock …` ($SUDO_USER), else ourselves.
struct HostUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};
HostUser invoking_user();

// Whether `user` may open /dev/kvm for read and write, judged by its mode, owner and group and
// the user's group list (which may be newer than the user's current login session).
struct KvmAccess {
  bool exists = false;
  bool usable = false;
  std::string group;  // the device's group name
  bool group_has_rw = false;
};
KvmAccess kvm_access_for(const HostUser& user);

}  // namespace matchlock::cli
