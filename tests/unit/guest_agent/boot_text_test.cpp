// The texts init reads at boot: the kernel command line (the KVM probe's flag), the initramfs's
// module order file and the kernel's clocksources. All are split by hand (no iostreams at boot).
#include <catch2/catch.hpp>

#include <stdlib.h>
#include <unistd.h>

#include "boot_probe.h"
#include "boot_settle.h"
#include "modules.h"

using namespace matchlock::guest_agent;

TEST_CASE("the probe flag is a whole word of the kernel command line", "[guest][boot]") {
  constexpr std::string_view kFlag = "matchlock.probe=1";
  CHECK(cmdline_has_word("matchlock.probe=1", kFlag));
  CHECK(cmdline_has_word("console=ttyS0 matchlock.probe=1 quiet\n", kFlag));
  CHECK(cmdline_has_word("quiet\tmatchlock.probe=1", kFlag));
  CHECK(cmdline_has_word("xmatchlock.probe=1 matchlock.probe=1", kFlag));

  CHECK_FALSE(cmdline_has_word("", kFlag));
  CHECK_FALSE(cmdline_has_word("console=ttyS0 quiet\n", kFlag));
  CHECK_FALSE(cmdline_has_word("matchlock.probe=10", kFlag));
  CHECK_FALSE(cmdline_has_word("xmatchlock.probe=1", kFlag));
  CHECK_FALSE(cmdline_has_word("matchlock.probe=", kFlag));
  CHECK_FALSE(cmdline_has_word("anything", ""));
}

TEST_CASE("the module order file: names in order, comments and path tricks dropped",
          "[guest][boot]") {
  auto names = parse_module_order(
      "virtio_ring.ko\n"
      "\n"
      "# a comment\n"
      "virtio.ko \r\n"
      "../escape.ko\n"
      "sub/dir.ko\n"
      "..\n"
      "virtio-rng.ko");  // no final newline
  CHECK(names == std::vector<std::string>{"virtio_ring.ko", "virtio.ko", "virtio-rng.ko"});
  CHECK(parse_module_order("").empty());
  CHECK(parse_module_order("\n\n# only comments\n").empty());
}

TEST_CASE("a module file's kernel name, as /sys/module shows it", "[guest][boot]") {
  CHECK(kernel_module_name("fuse.ko") == "fuse");
  CHECK(kernel_module_name("virtio-rng.ko") == "virtio_rng");
  CHECK(kernel_module_name("9pnet_virtio.ko") == "9pnet_virtio");
}

TEST_CASE("a module the bundle does not ship is taken as built into the kernel", "[guest][boot]") {
  // matchlock's own kernel has the sandbox's drivers built in and its bundle ships no module;
  // the workspace mount still asks for fuse.ko and virtiofs.ko by name.
  char dir[] = "/tmp/matchlock-modules-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  CHECK(load_kernel_module("matchlock_no_such_module.ko", dir));
  ::rmdir(dir);
}

TEST_CASE("a saved boot waits while the kernel still has its TSC refinement to do",
          "[guest][boot]") {
  CHECK(tsc_refinement_pending("tsc-early acpi_pm \n"));
  CHECK(tsc_refinement_pending("acpi_pm tsc-early"));
  CHECK_FALSE(tsc_refinement_pending("tsc acpi_pm \n"));
  CHECK_FALSE(tsc_refinement_pending("kvm-clock tsc acpi_pm \n"));
  CHECK_FALSE(tsc_refinement_pending("tsc-early-not acpi_pm"));
  CHECK_FALSE(tsc_refinement_pending(""));
}
