#include "vm/qemu_command.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/knobs.h"

namespace matchlock::vm {
namespace {

// Boot options chosen by measurement (docs/performance.md): each one shortens a TCG boot or
// removes a hang; `quiet` keeps the console log small.
const char* const kBaseKernelArgs[] = {
    "console=ttyS0",       "panic=-1",     "reboot=t",
    "rdinit=/init",        "tsc=reliable", "mitigations=off",
    "no_timer_check",      "pci=off",      "nokaslr",
    "i8042.noaux",         "i8042.nokbd",  "cryptomgr.notests",
    "random.trust_cpu=on", "quiet",        "loglevel=1",
};

std::string join(const std::vector<std::string>& v, char sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out.push_back(sep);
    out += s;
  }
  return out;
}

// KVM runs the host's CPU. Under TCG the guest gets QEMU's "max" model without ERMS and FSRM:
// with them the guest kernel and glibc copy memory with `rep movsb`, which TCG emulates a byte
// at a time; without them they use their move loops, which TCG translates to host moves. A
// page-cache read in the guest ran 9x faster that way (docs/performance.md).
const char* cpu_model(Accel accel) {
  return accel == Accel::kKvm ? "host" : "max,-erms,-fsrm";
}

// KVM through the passed /dev/kvm: an unprivileged QEMU could not open the device itself.
std::string accel_option(Accel accel) {
  if (accel == Accel::kTcg) return accel_name(accel);
  return std::string(accel_name(accel)) + ",device=" + fdset_path(kKvmFd);
}

void add_common_machine_args(std::vector<std::string>& a, const std::string& binary, Accel accel,
                             const std::string& machine_extra = "") {
  a = {binary, "-M", "microvm,x-option-roms=off" + machine_extra,
       // qboot, by name: QEMU finds it in its data directory. Debian's QEMU 10 has no
       // bios-microvm.bin and would fall back to SeaBIOS, which cannot boot a PVH kernel without
       // option ROMs and leaves the guest without a way to power off.
       "-bios", "qboot.rom", "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
       // QEMU's own seccomp filter: no obsolete syscalls, no setuid/setgid, no fork/exec, no
       // scheduler or resource-limit changes. A guest that escapes into QEMU gets little.
       "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
       "-accel", accel_option(accel), "-cpu", cpu_model(accel)};
}

// Each fd-set file once, its host path as the set's description (query-fdsets, and `ps` shows
// which sandbox a QEMU belongs to).
void add_fd_sets(std::vector<std::string>& a, const std::vector<PassedFile>& files) {
  for (const auto& f : files) {
    if (f.reopened_by_path) continue;
    const std::string n = std::to_string(f.fd);
    a.insert(a.end(), {"-add-fd",
                       "fd=" + n + ",set=" + n + ",opaque=" + qemu_option_value(f.path.string())});
  }
}

std::string proc_fd_path(int fd) {
  return "/proc/self/fd/" + std::to_string(fd);
}

// A read of the workspace or a -v mount of at least this size that finds none of its range in
// the guest's page cache goes to the file server directly, into the reader's own pages (the
// guest kernel's patch images/kernel/patches/0001-*). Under TCG the page cache's work per 4 KiB
// page costs more than a round trip to the host for any read from 128 KiB up (cat and cp read
// 128 KiB at a time); under KVM that work is cheap and only streaming-sized reads go direct.
unsigned direct_read_min_kib(Accel accel) {
  return accel == Accel::kKvm ? 1024 : 128;
}

// QEMU's virtio-mmio offers every queue 1024 entries, and the guest's console driver fills its
// control queue and its port's receive queue with a page per entry at boot (8 MiB) and the net
// driver its receive ring with 1024 buffers. The guest kernel's patch
// images/kernel/patches/0002-* sizes the rings per virtio device ID from this list: net (1) and
// block (2) get 256, virtio-pci's defaults for both; the console (3), which carries only the
// agent's framed messages, 64. virtio-fs (26) keeps its 1024: a 1 MiB FUSE request takes some
// 260 descriptors.
constexpr const char* kVirtioRingSizes = "virtio_mmio.ring_max=0,256,256,64";

}  // namespace

const char* accel_name(Accel a) {
  return a == Accel::kKvm ? "kvm" : "tcg";
}

std::string kernel_cmdline(const VmSpec& spec) {
  std::vector<std::string> args(std::begin(kBaseKernelArgs), std::end(kBaseKernelArgs));
  // Under TCG a third of boots hang calibrating the TSC unless told its frequency.
  if (spec.accel == Accel::kTcg && spec.host_tsc_khz > 0) {
    args.push_back("tsc_early_khz=" + std::to_string(spec.host_tsc_khz));
  }
  args.push_back("fuse.direct_read_min_kib=" + std::to_string(direct_read_min_kib(spec.accel)));
  args.push_back(kVirtioRingSizes);
  // The sandbox's network is IPv4 (the agent also turns IPv6 off on every interface): with
  // IPv6 off from the start, lo and eth0 come up without their IPv6 setup and teardown (lo and
  // eth0 up: 27 -> 24 ms under TCG). IPv6 sockets still open; they have no address to use.
  args.push_back("ipv6.disable_ipv6=1");
  // Every exec installs the sandbox's seccomp filter, which the kernel would compile to x86 code
  // at a new address each time; TCG then translates that code anew before it runs. Interpreted,
  // the filter runs the one interpreter TCG has translated already (and the kernel's per-syscall
  // cache skips it for every syscall it always allows). 10-17 ms less per cold `run true`.
  if (spec.accel == Accel::kTcg) args.push_back("sysctl.net.core.bpf_jit_enable=0");
  for (const auto& e : spec.extra_kernel_args) args.push_back(e);
  return join(args, ' ');
}

std::string qemu_option_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    out += c;
    if (c == ',') out += ',';  // QEMU's escape for a comma inside an option value
  }
  return out;
}

std::string data_disk_serial(size_t index) {
  return "disk" + std::to_string(index);
}

std::string fdset_path(int fd) {
  return "/dev/fdset/" + std::to_string(fd);
}

std::vector<PassedFile> qemu_passed_files(const VmSpec& spec) {
  std::vector<PassedFile> files = {
      {kKernelFd, spec.kernel, FileAccess::kRead, true},
      {kInitrdFd, spec.initrd, FileAccess::kRead, true},
  };
  if (spec.accel == Accel::kKvm) files.push_back({kKvmFd, kKvmDevice, FileAccess::kReadWrite});
  if (!spec.migration_file.empty()) {
    files.push_back({kMigrationFd, spec.migration_file,
                     spec.migration_writes ? FileAccess::kWriteCreate : FileAccess::kRead});
  }
  files.push_back({kBaseDiskFd, spec.base_disk, FileAccess::kRead});
  files.push_back({kUpperDiskFd, spec.upper_disk, FileAccess::kReadWrite});
  for (size_t i = 0; i < spec.data_disks.size(); ++i) {
    const auto& disk = spec.data_disks[i];
    files.push_back({kFirstDataDiskFd + static_cast<int>(i), disk.path,
                     disk.readonly ? FileAccess::kRead : FileAccess::kReadWrite});
  }
  return files;
}

std::vector<PassedFile> probe_passed_files(Accel accel, const std::filesystem::path& kernel,
                                           const std::filesystem::path& initrd) {
  std::vector<PassedFile> files = {{kKernelFd, kernel, FileAccess::kRead, true},
                                   {kInitrdFd, initrd, FileAccess::kRead, true}};
  if (accel == Accel::kKvm) files.push_back({kKvmFd, kKvmDevice, FileAccess::kReadWrite});
  return files;
}

namespace {

// QEMU's default on a failed write is to pause the VM when the host disk is full (ENOSPC),
// which would hang `run` for good: the guest gets the I/O error instead, so its write fails
// and the command ends.
constexpr char kReportIoErrors[] = ",werror=report,rerror=report";

// A writable disk is opened read-write once, from the start: with QEMU's default
// (auto-read-only) it would first ask its fd set for a read-only fd, which it does not hold.
constexpr char kWritableFromTheStart[] = ",file.auto-read-only=off";

// A user's image through the file protocol explicitly (never parsed as "proto:..."), from its
// passed fd. QEMU takes an exclusive write lock on an image it opens read-write, so a second
// sandbox cannot open the same disk read-write at once (boot.cpp words that failure).
void add_data_disk(std::vector<std::string>& a, const VmDisk& disk, int fd) {
  const std::string id = qemu_option_value(disk.serial);
  a.insert(a.end(), {"-drive",
                     "file.driver=file,file.filename=" + fdset_path(fd) + ",if=none,id=" + id +
                         ",format=raw" +
                         (disk.readonly ? std::string(",readonly=on")
                                        : std::string(",discard=unmap") + kReportIoErrors +
                                              kWritableFromTheStart),
                     "-device", "virtio-blk-device,drive=" + id + ",serial=" + id});
}

}  // namespace

std::vector<std::string> qemu_argv(const VmSpec& spec) {
  std::vector<std::string> a;
  // virtio-fs and the engine's NIC: their back ends (in the owner) read and write the guest's
  // RAM directly, so the RAM is a shared memfd QEMU passes over vhost-user.
  const bool shared_ram = spec.vfs || (spec.network && !spec.slirp_baseline);
  add_common_machine_args(a, spec.qemu_binary, spec.accel,
                          shared_ram ? ",memory-backend=" + std::string(kGuestRamId) : "");
  add_fd_sets(a, qemu_passed_files(spec));
  if (shared_ram) {
    a.insert(a.end(), {"-object", "memory-backend-memfd,id=" + std::string(kGuestRamId) +
                                      ",size=" + std::to_string(spec.memory_mib) + "M,share=on"});
  }
  a.insert(a.end(),
           {
               "-smp",
               std::to_string(spec.vcpus),
               "-m",
               std::to_string(spec.memory_mib) + "M",
               "-kernel",
               proc_fd_path(kKernelFd),
               "-initrd",
               proc_fd_path(kInitrdFd),
               "-append",
               kernel_cmdline(spec),
               "-chardev",
               // A socket, not a file: the engine caps what it keeps (vm/capped_log.h).
               "socket,id=console,fd=" + std::to_string(kConsoleFd),
               "-serial",
               "chardev:console",
               "-drive",
               "file=" + fdset_path(kBaseDiskFd) + ",if=none,id=base,format=raw,readonly=on",
               "-device",
               "virtio-blk-device,drive=base,serial=base",
               "-drive",
               "file=" + fdset_path(kUpperDiskFd) +
                   ",if=none,id=upper,format=raw,cache=unsafe,discard=unmap" + kReportIoErrors +
                   kWritableFromTheStart,
               "-device",
               "virtio-blk-device,drive=upper,serial=upper",
           });
  for (size_t i = 0; i < spec.data_disks.size(); ++i) {
    add_data_disk(a, spec.data_disks[i], kFirstDataDiskFd + static_cast<int>(i));
  }
  a.insert(a.end(),
           {
               "-device",
               // Two ports: number 0 is kept for a console, 1 is the agent's. Each port more
               // is two more queues for the guest to set up at boot.
               "virtio-serial-device,max_ports=2",
               "-chardev",
               "socket,id=ctl,fd=" + std::to_string(kControlFd),
               "-device",
               "virtserialport,chardev=ctl,id=" + std::string(kAgentPortId) + ",name=matchlock.ctl",
               "-chardev",
               "socket,id=qmp,fd=" + std::to_string(kQmpFd),
               "-mon",
               "chardev=qmp,mode=control",
           });
  // No virtio-rng: the guest's RNG is seeded by the CPU's RDRAND at boot (random.trust_cpu=on)
  // and by the host's entropy in every CONFIG, and the kernel's hwrng thread would keep pulling
  // from the device through the whole boot (40-70 ms of a TCG cold boot).
  if (spec.vfs) {
    a.insert(a.end(), {"-chardev", "socket,id=vfs,fd=" + std::to_string(kVfsFd), "-device",
                       "vhost-user-fs-device,chardev=vfs,tag=" + std::string(kVirtioFsTag) +
                           ",queue-size=" + std::to_string(kVirtioFsQueueSize)});
  }
  if (spec.slirp_baseline) {
    a.insert(a.end(), {"-netdev", "user,id=net0", "-device",
                       "virtio-net-device,netdev=net0,mac=" + spec.mac +
                           (spec.mtu > 0 ? ",host_mtu=" + std::to_string(spec.mtu) : "")});
  } else if (spec.network) {
    // The engine serves the NIC's rings itself (vhost-user, in the guest's shared RAM like
    // virtio-fs): frames skip QEMU, and the device can offer the guest receive offloads.
    a.insert(a.end(), {"-chardev",
                       "socket,id=net0sock,abstract=on,path=" + qemu_option_value(spec.net_socket),
                       "-netdev", "vhost-user,id=net0,chardev=net0sock", "-device",
                       "virtio-net-device,netdev=net0,mac=" + spec.mac +
                           (spec.mtu > 0 ? ",host_mtu=" + std::to_string(spec.mtu) : "")});
  }
  if (spec.incoming_deferred) a.insert(a.end(), {"-incoming", "defer"});
  if (!spec.bench_virtfs_dir.empty()) {
    // security_model=none: files keep the host user's ids, as a bind mount would.
    a.insert(a.end(), {"-fsdev",
                       std::string("local,id=") + kBenchVirtfsTag +
                           ",path=" + qemu_option_value(spec.bench_virtfs_dir.string()) +
                           ",security_model=none",
                       "-device",
                       std::string("virtio-9p-device,fsdev=") + kBenchVirtfsTag +
                           ",mount_tag=" + kBenchVirtfsTag});
  }
  return a;
}

std::vector<std::string> probe_argv(const std::string& qemu_binary, Accel accel,
                                    const std::string& cpu, const std::filesystem::path& kernel,
                                    const std::filesystem::path& initrd, uint32_t host_tsc_khz) {
  VmSpec spec;
  spec.accel = accel;
  spec.host_tsc_khz = host_tsc_khz;
  spec.extra_kernel_args = {"matchlock.probe=1"};
  std::vector<std::string> a;
  add_common_machine_args(a, qemu_binary, accel);
  a.back() = cpu;
  add_fd_sets(a, probe_passed_files(accel, kernel, initrd));
  a.insert(a.end(), {"-smp", "1", "-m", "256M", "-kernel", proc_fd_path(kKernelFd), "-initrd",
                     proc_fd_path(kInitrdFd), "-append", kernel_cmdline(spec), "-serial", "stdio"});
  return a;
}

bool slirp_baseline_requested() {
  return knobs::get(knobs::kUnsafeSlirpBaseline) == "1";
}

std::optional<std::filesystem::path> bench_virtfs_requested() {
  auto dir = knobs::get(knobs::kUnsafeBenchVirtfs);
  if (!dir) return std::nullopt;
  return std::filesystem::path(*dir);
}

uint32_t host_tsc_khz() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("cpu MHz", 0) != 0) continue;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    double mhz = std::strtod(line.c_str() + colon + 1, nullptr);
    if (mhz > 0 && std::isfinite(mhz)) return static_cast<uint32_t>(std::llround(mhz * 1000.0));
  }
  return 0;
}

}  // namespace matchlock::vm
