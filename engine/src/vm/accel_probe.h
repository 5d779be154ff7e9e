// Chooses the accelerator: KVM only when a bounded probe proves it boots our guest kernel,
// otherwise TCG. An openable /dev/kvm is not proof: nested hypervisors (e.g. PVM) expose one
// that accepts the VM but never runs a standard guest. The verdict is cached per host.
#pragma once

#include <uv.h>

#include <filesystem>
#include <functional>
#include <string>

#include "vm/qemu_command.h"

namespace matchlock::vm {

struct AccelChoice {
  Accel accel = Accel::kTcg;
  std::string reason;  // for logs: "kvm probe booted", "cached", "MATCHLOCK_ACCEL=tcg", ...
};

struct ProbeInputs {
  std::string qemu_binary = "qemu-system-x86_64";
  std::filesystem::path kernel;
  std::filesystem::path initrd;
  std::filesystem::path cache_file;  // $MATCHLOCK_HOME/cache/accel
  std::string kvm_cpu = "host";      // MATCHLOCK_KVM_PROBE_CPU overrides (diagnosis, tests)
  uint64_t timeout_ms = 6000;        // MATCHLOCK_KVM_PROBE_TIMEOUT_MS overrides
};

// Calls `done` exactly once, on the loop. Never blocks longer than inputs.timeout_ms.
void choose_accelerator(uv_loop_t* loop, const ProbeInputs& inputs,
                        std::function<void(AccelChoice)> done);

}  // namespace matchlock::vm
