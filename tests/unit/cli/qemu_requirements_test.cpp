#include "cli/qemu_requirements.h"

#include <catch2/catch.hpp>

using namespace matchlock::cli;
using matchlock::vm::parse_qemu_version;
using matchlock::vm::QemuInstall;

namespace {

QemuInstall install(const std::string& banner) {
  return {"/usr/bin/qemu-system-x86_64", banner, parse_qemu_version(banner)};
}

const OsRelease kBookworm{"debian", "bookworm"};
const OsRelease kTrixie{"debian", "trixie"};

}  // namespace

TEST_CASE("cold boots need QEMU 7.2, warm starts 9.1", "[cli]") {
  CHECK(requirement_name(kColdBootQemu) == "7.2");
  CHECK(requirement_name(kWarmStartQemu) == "9.1");
}

TEST_CASE("os-release fields parse, quoted or not", "[cli]") {
  auto os = parse_os_release(
      "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\n"
      "VERSION_CODENAME=bookworm\nID=debian\nHOME_URL=\"x\"\n");
  CHECK(os.id == "debian");
  CHECK(os.version_codename == "bookworm");
  auto quoted = parse_os_release("ID='ubuntu'\nVERSION_CODENAME=\"jammy\"");
  CHECK(quoted.id == "ubuntu");
  CHECK(quoted.version_codename == "jammy");
  auto empty = parse_os_release("garbage\n=\nID");
  CHECK(empty.id.empty());
  CHECK(empty.version_codename.empty());
}

TEST_CASE("Debian 12 installs QEMU from bookworm-backports, others from their own archive",
          "[cli]") {
  const auto bpo = qemu_apt_source(kBookworm);
  CHECK(bpo.backports_suite == "bookworm-backports");
  CHECK(bpo.backports_line == "deb http://deb.debian.org/debian bookworm-backports main");
  CHECK(bpo.install_args() ==
        std::vector<std::string>{"install", "-y", "-t", "bookworm-backports", "qemu-system-x86"});
  CHECK_THAT(bpo.install_hint(),
             Catch::Contains("sudo apt-get install -y -t bookworm-backports qemu-system-x86") &&
                 Catch::Contains(bpo.backports_line));

  for (const OsRelease& os : {kTrixie, OsRelease{"ubuntu", "noble"}, OsRelease{}}) {
    const auto own = qemu_apt_source(os);
    CHECK(own.backports_suite.empty());
    CHECK(own.install_args() == std::vector<std::string>{"install", "-y", "qemu-system-x86"});
    CHECK(own.install_hint() == "sudo apt-get install -y qemu-system-x86");
  }
}

TEST_CASE("an apt source names a suite only on a line that is not a comment", "[cli]") {
  const std::string_view bpo = "bookworm-backports";
  CHECK(apt_source_names_suite("deb http://deb.debian.org/debian bookworm-backports main\n", bpo));
  CHECK(apt_source_names_suite(
      "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates "
      "bookworm-backports\nComponents: main\n",
      bpo));
  CHECK(apt_source_names_suite("  Suites:\tbookworm-backports", bpo));
  CHECK_FALSE(
      apt_source_names_suite("# deb http://deb.debian.org/debian bookworm-backports main\n", bpo));
  CHECK_FALSE(apt_source_names_suite("  #Suites: bookworm-backports\n", bpo));
  CHECK_FALSE(apt_source_names_suite("Suites: bookworm bookworm-updates\n", bpo));
  CHECK_FALSE(apt_source_names_suite("deb http://x/debian bookworm-backports-sloppy main\n", bpo));
  CHECK_FALSE(apt_source_names_suite("deb http://x/debian old-bookworm-backports main\n", bpo));
  CHECK_FALSE(apt_source_names_suite("", bpo));
}

TEST_CASE("warm starts are supported from QEMU 9.1 on", "[cli]") {
  auto ten = warm_start_support(
      install("QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)"), kBookworm);
  CHECK(ten.supported);
  CHECK(ten.message == "QEMU 10.0.2 can warm-start sandboxes (that needs >= 9.1)");
  CHECK(warm_start_support(install("QEMU emulator version 9.1.0"), kTrixie).supported);

  auto bookworm = warm_start_support(
      install("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)"), kBookworm);
  CHECK_FALSE(bookworm.supported);
  CHECK_THAT(bookworm.message,
             Catch::StartsWith("warm starts need QEMU >= 9.1, this is 7.2.22; on Debian 12 it "
                               "comes from bookworm-backports") &&
                 Catch::Contains("-t bookworm-backports qemu-system-x86"));

  auto elsewhere = warm_start_support(install("QEMU emulator version 8.2.2"), OsRelease{});
  CHECK_FALSE(elsewhere.supported);
  CHECK(elsewhere.message ==
        "warm starts need QEMU >= 9.1, this is 8.2.2; install a newer QEMU from your "
        "distribution");

  auto none = warm_start_support(std::nullopt, kBookworm);
  CHECK_FALSE(none.supported);
  CHECK_THAT(none.message, Catch::StartsWith("warm starts need QEMU >= 9.1, none is installed; "));
  auto unknown = warm_start_support(install(""), kBookworm);
  CHECK_FALSE(unknown.supported);
  CHECK_THAT(unknown.message, Catch::Contains("this one's version is unknown"));
}
