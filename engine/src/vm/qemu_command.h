// Builds QEMU's command line for one sandbox. The builders are pure (no I/O), so they are
// unit-tested directly; only the host readings at the end look at the environment.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace matchlock::vm {

enum class Accel { kKvm, kTcg };
const char* accel_name(Accel a);

// File descriptor numbers the QEMU child inherits (the launcher dup2()s them into place). 3 is
// free: the NIC connects by name (vm/vhost_user_listener.h).
inline constexpr int kControlFd = 4;
inline constexpr int kQmpFd = 5;
inline constexpr int kVfsFd = 6;
inline constexpr int kConsoleFd = 9;  // the serial console's socket (vm/capped_log.h)

// Host files QEMU gets as inherited fds, never by path: it may run as an unprivileged uid of its
// own (qemu_confinement.h) that cannot open anything in the engine's root-only directories. Each
// is passed as fd set N (-add-fd fd=N,set=N) and opened by QEMU as /dev/fdset/N, except the
// kernel and initrd, whose loaders only take a path: /proc/self/fd/N.
inline constexpr int kKernelFd = 7;
inline constexpr int kInitrdFd = 8;
inline constexpr int kKvmFd = 10;
inline constexpr int kMigrationFd = 11;
inline constexpr int kBaseDiskFd = 12;
inline constexpr int kUpperDiskFd = 13;
inline constexpr int kFirstDataDiskFd = 14;  // + the data disk's index

// How the engine opens a file it hands to QEMU. QEMU picks an fd from a set by its access mode,
// so this must match what QEMU asks for.
enum class FileAccess {
  kRead,         // O_RDONLY
  kReadWrite,    // O_RDWR, the file must exist
  kWriteCreate,  // O_WRONLY | O_CREAT | O_TRUNC (a saved guest)
};

struct PassedFile {
  int fd = -1;                 // the number QEMU inherits it as (k...Fd above)
  std::filesystem::path path;  // the host file the engine opens
  FileAccess access = FileAccess::kRead;
  bool reopened_by_path = false;  // QEMU opens /proc/self/fd/N rather than using the fd
};

// The fd set path QEMU opens for a passed fd.
std::string fdset_path(int fd);

// virtio-fs (VmSpec::vfs): the mount tag the guest mounts, the request queue size (QEMU's
// maximum: a 1 MiB FUSE write takes ~260 descriptors without indirect ones), and the id of the
// shared RAM backend the vhost-user backend maps.
inline constexpr const char* kVirtioFsTag = "matchlock";
inline constexpr int kVirtioFsQueueSize = 1024;
inline constexpr const char* kGuestRamId = "ram";
// QEMU's id of the agent's virtio-serial port: VSERPORT_CHANGE events name the port by it.
inline constexpr const char* kAgentPortId = "matchlock-ctl";

// The QEMU program sandboxes run, looked up on $PATH.
inline constexpr const char* kQemuBinary = "qemu-system-x86_64";

// A data disk beyond the sandbox's own two: the guest finds it by its virtio-blk serial.
struct VmDisk {
  std::filesystem::path path;  // used in place (writes persist in the file)
  std::string serial;          // "disk0", "disk1", ...
  bool readonly = false;
};

// The serial of the index-th data disk.
std::string data_disk_serial(size_t index);

struct VmSpec {
  std::string qemu_binary = kQemuBinary;
  Accel accel = Accel::kTcg;
  std::filesystem::path kernel;
  std::filesystem::path initrd;
  int vcpus = 1;
  uint64_t memory_mib = 512;
  std::filesystem::path base_disk;   // read-only image rootfs, serial "base"
  std::filesystem::path upper_disk;  // writable per-sandbox disk, serial "upper"
  std::vector<VmDisk> data_disks;    // --disk / extra_disks, in order
  bool network = false;    // attach virtio-net, its vhost-user back end (the engine) on...
  std::string net_socket;  // ...this abstract unix socket name (vm/vhost_user_listener.h)
  bool vfs = false;        // add virtio-fs (tag kVirtioFsTag), its vhost-user backend on kVfsFd
  // Benchmark baseline only: QEMU's own user-mode network (slirp) instead of the engine's
  // sealed stack. It can reach the host's loopback and everything else, unfiltered.
  bool slirp_baseline = false;
  // Benchmark baseline only: this host directory shared read-write with the guest over
  // QEMU's virtio-9p (mount tag kBenchVirtfsTag), unmediated. Empty: no share.
  std::filesystem::path bench_virtfs_dir;
  std::string mac = "52:54:00:12:34:56";
  int mtu = 0;                // > 0: advertised to the guest as host_mtu (VIRTIO_NET_F_MTU)
  uint32_t host_tsc_khz = 0;  // 0 = unknown (then no tsc_early_khz)
  std::vector<std::string> extra_kernel_args;
  // Start waiting for a migration stream (QMP migrate-incoming) instead of booting: a warm
  // start loads a saved guest this way (vm/guest_migration.h).
  bool incoming_deferred = false;
  // A warm start's migration file, passed as fd set kMigrationFd: the saved guest a restore
  // reads, or the file a cold boot saves its guest to. Empty: none. The migration names it by
  // fdset_path(kMigrationFd) and drops the set afterwards (guest_migration.h).
  std::filesystem::path migration_file;
  bool migration_writes = false;  // saving (created, truncated) rather than restoring
};

std::string kernel_cmdline(const VmSpec& spec);
std::vector<std::string> qemu_argv(const VmSpec& spec);
// The files qemu_argv(spec) refers to by fd, for the launcher to open and pass.
std::vector<PassedFile> qemu_passed_files(const VmSpec& spec);

// A value placed inside a QEMU "key=value,key=value" option (paths in -drive and -chardev):
// commas doubled, so a path with a comma cannot end the value and inject options.
std::string qemu_option_value(std::string_view value);

// The kernel command line for the accelerator probe: boots to init, which powers off at once.
// `cpu` is the -cpu model ("host" normally). Kernel, initrd and (under KVM) /dev/kvm are passed
// files, as probe_passed_files lists them.
std::vector<std::string> probe_argv(const std::string& qemu_binary, Accel accel,
                                    const std::string& cpu, const std::filesystem::path& kernel,
                                    const std::filesystem::path& initrd, uint32_t host_tsc_khz);
std::vector<PassedFile> probe_passed_files(Accel accel, const std::filesystem::path& kernel,
                                           const std::filesystem::path& initrd);

// The device QEMU's KVM accelerator opens, passed as fd set kKvmFd.
inline constexpr const char* kKvmDevice = "/dev/kvm";

// MATCHLOCK_UNSAFE_SLIRP_BASELINE=1: bench/net_throughput.py's baseline, the same guest on
// QEMU's -netdev user (VmSpec::slirp_baseline). Never for real use: nothing is filtered.
bool slirp_baseline_requested();

// MATCHLOCK_UNSAFE_BENCH_VIRTFS=/abs/dir: bench/vfs.py's baseline, the directory shared over
// QEMU's virtio-9p (VmSpec::bench_virtfs_dir), so the FUSE mount can be compared with it.
// The raw value (the caller checks that it is an absolute directory), nullopt when unset.
std::optional<std::filesystem::path> bench_virtfs_requested();
inline constexpr const char* kBenchVirtfsTag = "bench9p";

// The guest side of QEMU's user-mode network, fixed by QEMU: guest .15, gateway .2 and DNS .3
// of 10.0.2.0/24.
struct SlirpAddressing {
  std::string address = "10.0.2.15";
  int prefix = 24;
  std::string gateway = "10.0.2.2";
  std::string dns = "10.0.2.3";
};

// The host's TSC frequency in kHz from /proc/cpuinfo ("cpu MHz"), 0 if unknown.
uint32_t host_tsc_khz();

}  // namespace matchlock::vm
