// Builds QEMU's command line for one sandbox. Pure: no I/O, so it is unit-tested directly.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace matchlock::vm {

enum class Accel { kKvm, kTcg };
const char* accel_name(Accel a);

// File descriptor numbers the QEMU child inherits (the launcher dup2()s them into place).
inline constexpr int kNetFd = 3;
inline constexpr int kControlFd = 4;
inline constexpr int kQmpFd = 5;

struct VmSpec {
  std::string qemu_binary = "qemu-system-x86_64";
  Accel accel = Accel::kTcg;
  std::filesystem::path kernel;
  std::filesystem::path initrd;
  int vcpus = 1;
  uint64_t memory_mib = 512;
  std::filesystem::path base_disk;   // read-only image rootfs, serial "base"
  std::filesystem::path upper_disk;  // writable per-sandbox disk, serial "upper"
  std::filesystem::path console_log;
  bool network = false;  // attach virtio-net on kNetFd
  // Benchmark baseline only: QEMU's own user-mode network (slirp) instead of the engine's
  // sealed stack. It can reach the host's loopback and everything else, unfiltered.
  bool slirp_baseline = false;
  std::string mac = "52:54:00:12:34:56";
  int mtu = 0;                // > 0: advertised to the guest as host_mtu (VIRTIO_NET_F_MTU)
  uint32_t host_tsc_khz = 0;  // 0 = unknown (then no tsc_early_khz)
  std::vector<std::string> extra_kernel_args;
};

std::string kernel_cmdline(const VmSpec& spec);
std::vector<std::string> qemu_argv(const VmSpec& spec);

// The kernel command line for the accelerator probe: boots to init, which powers off at once.
// `cpu` is the -cpu model ("host" normally).
std::vector<std::string> probe_argv(const std::string& qemu_binary, Accel accel,
                                    const std::string& cpu, const std::filesystem::path& kernel,
                                    const std::filesystem::path& initrd, uint32_t host_tsc_khz);

// The host's TSC frequency in kHz from /proc/cpuinfo ("cpu MHz"), 0 if unknown.
uint32_t host_tsc_khz();

}  // namespace matchlock::vm
