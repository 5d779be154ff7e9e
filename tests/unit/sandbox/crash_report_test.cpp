#include <catch2/catch.hpp>

#include <string>

#include "sandbox/crash_report.h"

using matchlock::sandbox::crash_message;
using matchlock::sandbox::guest_lost_reason;
using matchlock::sandbox::vm_exit_reason;
using matchlock::vm::ExitInfo;

TEST_CASE("a VM killed by a signal is said so, whatever the console says", "[sandbox][crash]") {
  ExitInfo killed{-1, 9};
  CHECK(vm_exit_reason(killed, "") == "the VM was killed by signal 9");
  CHECK(vm_exit_reason(killed, "Kernel panic - not syncing: x\n") ==
        "the VM was killed by signal 9");
}

TEST_CASE("a VM that exited on its own names its status", "[sandbox][crash]") {
  CHECK(vm_exit_reason(ExitInfo{0, 0}, "some boot line\n") == "the VM exited with status 0");
  CHECK(vm_exit_reason(ExitInfo{1, 0}, "") == "the VM exited with status 1");
}

TEST_CASE("a guest kernel panic on the console is named with its cause", "[sandbox][crash]") {
  std::string console =
      "[    1.51] sysrq: Trigger a crash\n"
      "[    1.52] Kernel panic - not syncing: sysrq triggered crash\r\n"
      "[    1.53]  panic+0x118/0x2f4\n";
  CHECK(vm_exit_reason(ExitInfo{0, 0}, console) ==
        "the guest kernel panicked (sysrq triggered crash)");
  CHECK(vm_exit_reason(ExitInfo{0, 0}, "Kernel panic without the usual words\n") ==
        "the guest kernel panicked");
}

TEST_CASE("what is quoted from the guest console is printable and bounded", "[sandbox][crash]") {
  std::string cause = "evil\x1b[2J\x07" + std::string(1000, 'A');
  auto reason = vm_exit_reason(ExitInfo{0, 0}, "Kernel panic - not syncing: " + cause + "\n");
  CHECK(reason.size() < 220);
  for (char c : reason) CHECK((c >= 0x20 && c < 0x7f));
  CHECK(reason.rfind("the guest kernel panicked (evil?[2J?AAA", 0) == 0);
}

TEST_CASE("the crash message names the sandbox and the reason", "[sandbox][crash]") {
  CHECK(crash_message("vm-1a2b3c4d", "the VM was killed by signal 9") ==
        "sandbox vm-1a2b3c4d stopped unexpectedly: the VM was killed by signal 9");
  CHECK(guest_lost_reason("guest channel closed") ==
        "the guest agent's channel was lost (guest channel closed)");
}
