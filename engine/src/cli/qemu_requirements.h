// Which QEMU matchlock needs, and how apt gets it on this host: what `setup linux` checks and
// installs and what `version` reports. Cold boots need 7.2 (microvm with qboot, vhost-user
// virtio-fs); warm starts need 9.1: 9.0 is the first QEMU that migrates a vhost-user-fs device and
// saves RAM in mapped-ram form, 9.1 the first whose migrate-incoming can report a bad file and stay
// up. Debian 12's own QEMU is 7.2, so there a QEMU for warm starts comes from bookworm-backports.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vm/qemu_install.h"

namespace matchlock::cli {

inline constexpr vm::QemuVersion kColdBootQemu{7, 2, 0};
inline constexpr vm::QemuVersion kWarmStartQemu{9, 1, 0};

// "7.2": how a requirement is written in messages and step names.
std::string requirement_name(const vm::QemuVersion& v);

// The fields of /etc/os-release that choose where QEMU comes from.
struct OsRelease {
  std::string id;                // "debian", "ubuntu", ...
  std::string version_codename;  // "bookworm", ...
};
OsRelease parse_os_release(std::string_view text);
OsRelease read_os_release();  // empty fields when /etc/os-release is missing

// Where apt installs QEMU from on this distribution: its own archive, or (Debian 12) the
// backports suite, which is off unless a source for it is added.
struct QemuAptSource {
  std::string backports_suite;  // "" = the distribution's own archive
  std::string backports_line;   // the sources.list line that enables it ("" if none needed)

  // apt-get arguments that install QEMU: {"install", "-y", ["-t", suite,] "qemu-system-x86"}.
  std::vector<std::string> install_args() const;
  // What a user types: "sudo apt-get install -y [-t suite] qemu-system-x86", preceded by how
  // to enable the suite when one is needed.
  std::string install_hint() const;
};
QemuAptSource qemu_apt_source(const OsRelease& os);

// Whether the text of an apt source file (one-line .list or deb822 .sources) names `suite` on a
// line that is not a comment.
bool apt_source_names_suite(std::string_view text, std::string_view suite);

// Whether `qemu` can warm-start sandboxes, in one sentence that says how to get one that can.
struct WarmStartSupport {
  bool supported = false;
  std::string message;
};
WarmStartSupport warm_start_support(const std::optional<vm::QemuInstall>& qemu,
                                    const OsRelease& os);

}  // namespace matchlock::cli
