#include "cli/qemu_requirements.h"

#include <fstream>
#include <sstream>

namespace matchlock::cli {
namespace {

// os-release values may be quoted: ID="debian" and ID=debian mean the same.
std::string unquote(std::string_view v) {
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
    v = v.substr(1, v.size() - 2);
  }
  return std::string(v);
}

std::string version_name(const vm::QemuVersion& v) {
  return std::to_string(v.major) + "." + std::to_string(v.minor) + "." + std::to_string(v.micro);
}

}  // namespace

std::string requirement_name(const vm::QemuVersion& v) {
  return std::to_string(v.major) + "." + std::to_string(v.minor);
}

OsRelease parse_os_release(std::string_view text) {
  OsRelease os;
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, eq), value = line.substr(eq + 1);
    if (key == "ID") os.id = unquote(value);
    if (key == "VERSION_CODENAME") os.version_codename = unquote(value);
  }
  return os;
}

OsRelease read_os_release() {
  std::ifstream f("/etc/os-release");
  std::ostringstream text;
  text << f.rdbuf();
  return parse_os_release(text.str());
}

QemuAptSource qemu_apt_source(const OsRelease& os) {
  QemuAptSource s;
  // Debian 12 ships QEMU 7.2: enough to boot, too old for warm starts. Its backports suite
  // carries a newer one built for Debian 12. Later Debian releases ship >= 9.1 themselves.
  if (os.id == "debian" && os.version_codename == "bookworm") {
    s.backports_suite = "bookworm-backports";
    s.backports_line = "deb http://deb.debian.org/debian bookworm-backports main";
  }
  return s;
}

bool apt_source_names_suite(std::string_view text, std::string_view suite) {
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    const size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;
    // A whole word: "bookworm-backports-sloppy" is another suite.
    for (size_t at = line.find(suite); at != std::string_view::npos;
         at = line.find(suite, at + 1)) {
      const size_t end = at + suite.size();
      const bool starts = at == 0 || line[at - 1] == ' ' || line[at - 1] == '\t';
      const bool ends = end == line.size() || line[end] == ' ' || line[end] == '\t';
      if (starts && ends) return true;
    }
  }
  return false;
}

std::vector<std::string> QemuAptSource::install_args() const {
  std::vector<std::string> args{"install", "-y"};
  if (!backports_suite.empty()) args.insert(args.end(), {"-t", backports_suite});
  args.push_back("qemu-system-x86");
  return args;
}

std::string QemuAptSource::install_hint() const {
  std::string cmd = "sudo apt-get install -y";
  if (!backports_suite.empty()) cmd += " -t " + backports_suite;
  cmd += " qemu-system-x86";
  if (backports_line.empty()) return cmd;
  return "on Debian 12 it comes from " + backports_suite + ": add '" + backports_line +
         "' to the apt sources, then sudo apt-get update && " + cmd;
}

WarmStartSupport warm_start_support(const std::optional<vm::QemuInstall>& qemu,
                                    const OsRelease& os) {
  const std::string warm = requirement_name(kWarmStartQemu);
  if (qemu && qemu->version &&
      qemu->version->at_least(kWarmStartQemu.major, kWarmStartQemu.minor)) {
    return {true, "QEMU " + version_name(*qemu->version) +
                      " can warm-start sandboxes (that needs >= " + warm + ")"};
  }
  std::string found;
  if (!qemu)
    found = "none is installed";
  else if (!qemu->version)
    found = "this one's version is unknown";
  else
    found = "this is " + version_name(*qemu->version);
  const QemuAptSource source = qemu_apt_source(os);
  const std::string how = source.backports_suite.empty()
                              ? "install a newer QEMU from your distribution"
                              : source.install_hint();
  return {false, "warm starts need QEMU >= " + warm + ", " + found + "; " + how};
}

}  // namespace matchlock::cli
