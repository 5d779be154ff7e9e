#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>

#include "vm/qemu_command.h"

using namespace matchlock::vm;

namespace {
bool has_pair(const std::vector<std::string>& argv, const std::string& flag,
              const std::string& value) {
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == flag && argv[i + 1] == value) return true;
  }
  return false;
}
VmSpec sample() {
  VmSpec s;
  s.kernel = "/b/vmlinux";
  s.initrd = "/b/initramfs.cpio";
  s.base_disk = "/img/base.ext4";
  s.upper_disk = "/vm/upper.ext4";
  s.vcpus = 2;
  s.memory_mib = 768;
  return s;
}
}  // namespace

TEST_CASE("tcg boots get tsc_early_khz, kvm boots do not", "[vm]") {
  auto s = sample();
  s.host_tsc_khz = 2596144;
  s.accel = Accel::kTcg;
  CHECK(kernel_cmdline(s).find("tsc_early_khz=2596144") != std::string::npos);
  s.accel = Accel::kKvm;
  CHECK(kernel_cmdline(s).find("tsc_early_khz") == std::string::npos);
}

TEST_CASE("large reads skip the guest's page cache from 128 KiB under tcg, 1 MiB under kvm",
          "[vm]") {
  auto s = sample();
  s.accel = Accel::kTcg;
  CHECK(kernel_cmdline(s).find(" fuse.direct_read_min_kib=128") != std::string::npos);
  s.accel = Accel::kKvm;
  CHECK(kernel_cmdline(s).find(" fuse.direct_read_min_kib=1024") != std::string::npos);
}

TEST_CASE("rings are sized per device type, ipv6 starts off; bpf is interpreted under tcg only",
          "[vm]") {
  auto s = sample();
  s.accel = Accel::kTcg;
  CHECK(kernel_cmdline(s).find(" virtio_mmio.ring_max=0,256,256,64") != std::string::npos);
  CHECK(kernel_cmdline(s).find(" sysctl.net.core.bpf_jit_enable=0") != std::string::npos);
  CHECK(kernel_cmdline(s).find(" ipv6.disable_ipv6=1") != std::string::npos);
  s.accel = Accel::kKvm;
  CHECK(kernel_cmdline(s).find(" virtio_mmio.ring_max=0,256,256,64") != std::string::npos);
  CHECK(kernel_cmdline(s).find("bpf_jit_enable") == std::string::npos);
}

TEST_CASE("qemu argv uses microvm, serial-identified disks and the fd-passed channel", "[vm]") {
  auto argv = qemu_argv(sample());
  CHECK(has_pair(argv, "-M", "microvm,x-option-roms=off"));
  CHECK(has_pair(argv, "-bios", "qboot.rom"));
  CHECK(has_pair(argv, "-smp", "2"));
  CHECK(has_pair(argv, "-m", "768M"));
  CHECK(has_pair(argv, "-accel", "tcg"));
  CHECK(has_pair(argv, "-device", "virtio-blk-device,drive=base,serial=base"));
  CHECK(has_pair(argv, "-device", "virtio-blk-device,drive=upper,serial=upper"));
  CHECK(has_pair(argv, "-chardev", "socket,id=ctl,fd=4"));
  CHECK(
      has_pair(argv, "-device", "virtserialport,chardev=ctl,id=matchlock-ctl,name=matchlock.ctl"));
  CHECK(has_pair(argv, "-mon", "chardev=qmp,mode=control"));
  CHECK(std::find(argv.begin(), argv.end(), "-nodefaults") != argv.end());
  bool readonly_base = false;
  for (const auto& a : argv) {
    if (a.find("id=base") != std::string::npos && a.find("readonly=on") != std::string::npos) {
      readonly_base = true;
    }
  }
  CHECK(readonly_base);
}

TEST_CASE("the guest gets no virtio-rng device: RDRAND and CONFIG seed its RNG", "[vm]") {
  auto s = sample();
  s.network = true;
  s.vfs = true;
  for (const auto& a : qemu_argv(s)) CHECK(a.find("rng") == std::string::npos);
}

TEST_CASE("no network means no NIC in the argv", "[vm]") {
  auto s = sample();
  auto argv = qemu_argv(s);
  CHECK(std::none_of(argv.begin(), argv.end(),
                     [](const std::string& a) { return a.find("netdev") != std::string::npos; }));
  s.network = true;
  s.net_socket = "matchlock-vhost-net-0123";
  s.mtu = 1500;
  argv = qemu_argv(s);
  // The engine serves the NIC over vhost-user: QEMU connects to the engine's abstract socket,
  // and the guest's RAM is shared with the engine for it.
  CHECK(has_pair(argv, "-chardev", "socket,id=net0sock,abstract=on,path=matchlock-vhost-net-0123"));
  CHECK(has_pair(argv, "-netdev", "vhost-user,id=net0,chardev=net0sock"));
  CHECK(has_pair(argv, "-device",
                 "virtio-net-device,netdev=net0,mac=52:54:00:12:34:56,host_mtu=1500"));
  CHECK(has_pair(argv, "-object", "memory-backend-memfd,id=ram,size=768M,share=on"));
}

TEST_CASE("virtio-fs and shared guest RAM are added only when the spec asks for them", "[vm]") {
  auto s = sample();
  s.memory_mib = 768;
  auto argv = qemu_argv(s);
  CHECK_FALSE(has_pair(argv, "-chardev", "socket,id=vfs,fd=6"));
  CHECK(has_pair(argv, "-M", "microvm,x-option-roms=off"));
  CHECK(std::none_of(argv.begin(), argv.end(), [](const std::string& a) {
    return a.find("vhost-user") != std::string::npos ||
           a.find("memory-backend") != std::string::npos;
  }));
  s.vfs = true;
  argv = qemu_argv(s);
  CHECK(has_pair(argv, "-chardev", "socket,id=vfs,fd=6"));
  CHECK(
      has_pair(argv, "-device", "vhost-user-fs-device,chardev=vfs,tag=matchlock,queue-size=1024"));
  // The RAM backend QEMU shares with the vhost-user backend: same size as -m, shared.
  CHECK(has_pair(argv, "-M", "microvm,x-option-roms=off,memory-backend=ram"));
  CHECK(has_pair(argv, "-object", "memory-backend-memfd,id=ram,size=768M,share=on"));
  CHECK(has_pair(argv, "-m", "768M"));
  CHECK(has_pair(argv, "-sandbox",
                 "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"));
  CHECK(std::none_of(argv.begin(), argv.end(), [](const std::string& a) {
    return a.find("matchlock.vfs") != std::string::npos;
  }));
}

TEST_CASE("probe argv asks init to power off at once", "[vm]") {
  auto argv = probe_argv("qemu-system-x86_64", Accel::kKvm, "host", "/k", "/i", 0);
  CHECK(has_pair(argv, "-accel", "kvm,device=/dev/fdset/10"));
  CHECK(has_pair(argv, "-add-fd", "fd=10,set=10,opaque=/dev/kvm"));
  CHECK(has_pair(argv, "-kernel", "/proc/self/fd/7"));
  CHECK(has_pair(argv, "-initrd", "/proc/self/fd/8"));
  auto files = probe_passed_files(Accel::kKvm, "/k", "/i");
  REQUIRE(files.size() == 3);
  CHECK((files[0].fd == kKernelFd && files[0].path == "/k" && files[0].reopened_by_path));
  CHECK((files[1].fd == kInitrdFd && files[1].path == "/i" && files[1].reopened_by_path));
  CHECK((files[2].fd == kKvmFd && files[2].path == "/dev/kvm" &&
         files[2].access == FileAccess::kReadWrite));
  CHECK(has_pair(argv, "-cpu", "host"));
  bool probe_flag = false;
  for (const auto& a : argv) probe_flag |= a.find("matchlock.probe=1") != std::string::npos;
  CHECK(probe_flag);
}

TEST_CASE("the slirp baseline puts the NIC on QEMU's user network", "[vm]") {
  auto s = sample();
  s.slirp_baseline = true;
  s.mtu = 1500;
  auto argv = qemu_argv(s);
  CHECK(has_pair(argv, "-netdev", "user,id=net0"));
  CHECK(has_pair(argv, "-device",
                 "virtio-net-device,netdev=net0,mac=52:54:00:12:34:56,host_mtu=1500"));
  SlirpAddressing a;
  CHECK(a.address == "10.0.2.15");
  CHECK(a.gateway == "10.0.2.2");
  CHECK(a.dns == "10.0.2.3");
}

TEST_CASE("paths with commas cannot inject qemu options", "[vm]") {
  CHECK(matchlock::vm::qemu_option_value("/home/a,b/upper.ext4") == "/home/a,,b/upper.ext4");
  CHECK(matchlock::vm::qemu_option_value("plain") == "plain");
  auto s = sample();
  s.upper_disk = "/tmp/x,readonly=off,file=/etc/shadow/upper.ext4";
  auto argv = qemu_argv(s);
  // The path only describes the fd set QEMU gets the file from.
  CHECK(has_pair(argv, "-add-fd",
                 "fd=13,set=13,opaque=/tmp/x,,readonly=off,,file=/etc/shadow/upper.ext4"));
}

TEST_CASE("writable disks report I/O errors to the guest instead of pausing the VM", "[vm][disk]") {
  // QEMU pauses the VM on ENOSPC by default: a full host disk would hang `run`.
  VmSpec s = sample();
  s.data_disks = {{"/v/rw.ext4", data_disk_serial(0), false},
                  {"/v/ro.ext4", data_disk_serial(1), true}};
  auto argv = qemu_argv(s);
  size_t writable = 0;
  for (const auto& a : argv) {
    const bool upper = a.find(",id=upper,") != std::string::npos;
    const bool rw_data = a.find(",id=disk0,") != std::string::npos;
    if (upper || rw_data) {
      ++writable;
      CHECK_THAT(a, Catch::Contains(",werror=report,rerror=report"));
    } else if (a.find(",id=base,") != std::string::npos ||
               a.find(",id=disk1,") != std::string::npos) {
      CHECK(a.find("werror") == std::string::npos);  // read-only: nothing to write
    }
  }
  CHECK(writable == 2);
}

TEST_CASE("qemu runs under its own seccomp sandbox", "[vm]") {
  auto argv = qemu_argv(sample());
  auto it = std::find(argv.begin(), argv.end(), "-sandbox");
  REQUIRE(it != argv.end());
  REQUIRE(std::next(it) != argv.end());
  for (const char* deny :
       {"on,", "obsolete=deny", "elevateprivileges=deny", "spawn=deny", "resourcecontrol=deny"}) {
    CHECK(std::next(it)->find(deny) != std::string::npos);
  }
}

TEST_CASE("the virtio-9p bench baseline shares one escaped host directory", "[vm]") {
  auto s = sample();
  auto argv = qemu_argv(s);
  CHECK(std::find(argv.begin(), argv.end(), "-fsdev") == argv.end());
  s.bench_virtfs_dir = "/srv/a,readonly=on/w";
  argv = qemu_argv(s);
  CHECK(
      has_pair(argv, "-fsdev", "local,id=bench9p,path=/srv/a,,readonly=on/w,security_model=none"));
  CHECK(has_pair(argv, "-device", "virtio-9p-device,fsdev=bench9p,mount_tag=bench9p"));
}

TEST_CASE("data disks are virtio-blk drives by serial, from fd sets, ro when asked", "[vm][disk]") {
  VmSpec s = sample();
  s.data_disks = {{"/v/data,x.ext4", data_disk_serial(0), false},
                  {"nbd:host:1", data_disk_serial(1), true}};
  auto argv = qemu_argv(s);
  CHECK(has_pair(argv, "-add-fd", "fd=14,set=14,opaque=/v/data,,x.ext4"));
  CHECK(has_pair(argv, "-drive",
                 "file.driver=file,file.filename=/dev/fdset/14,if=none,id=disk0,format=raw,"
                 "discard=unmap,werror=report,rerror=report,file.auto-read-only=off"));
  CHECK(has_pair(argv, "-device", "virtio-blk-device,drive=disk0,serial=disk0"));
  // The file protocol is explicit: the fd set's path is never parsed as "proto:...".
  CHECK(has_pair(argv, "-add-fd", "fd=15,set=15,opaque=nbd:host:1"));
  CHECK(has_pair(argv, "-drive",
                 "file.driver=file,file.filename=/dev/fdset/15,if=none,id=disk1,format=raw,"
                 "readonly=on"));
  CHECK(has_pair(argv, "-device", "virtio-blk-device,drive=disk1,serial=disk1"));
  CHECK(std::count(argv.begin(), argv.end(), std::string("-drive")) == 4);
  auto files = qemu_passed_files(s);
  auto find = [&files](int fd) {
    return *std::find_if(files.begin(), files.end(),
                         [fd](const PassedFile& f) { return f.fd == fd; });
  };
  CHECK((find(14).path == "/v/data,x.ext4" && find(14).access == FileAccess::kReadWrite));
  CHECK((find(15).path == "nbd:host:1" && find(15).access == FileAccess::kRead));
}

TEST_CASE("a warm start's QEMU waits for a migration stream instead of booting", "[vm]") {
  VmSpec s = sample();
  auto argv = qemu_argv(s);
  CHECK(std::find(argv.begin(), argv.end(), "-incoming") == argv.end());
  s.incoming_deferred = true;
  argv = qemu_argv(s);
  CHECK(has_pair(argv, "-incoming", "defer"));
  CHECK(std::count(argv.begin(), argv.end(), std::string("-incoming")) == 1);
}

namespace {
// The value of every "-add-fd" in argv.
std::vector<std::string> fd_sets(const std::vector<std::string>& argv) {
  std::vector<std::string> out;
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == "-add-fd") out.push_back(argv[i + 1]);
  }
  return out;
}
}  // namespace

TEST_CASE("QEMU opens no host file by path: each is a passed fd", "[vm][confinement]") {
  VmSpec s = sample();
  s.accel = Accel::kKvm;
  s.data_disks = {{"/v/rw.ext4", data_disk_serial(0), false}};
  auto argv = qemu_argv(s);
  // Outside an fd set's description no argument names a host file of the spec.
  for (size_t i = 0; i < argv.size(); ++i) {
    if (i > 0 && argv[i - 1] == "-add-fd") continue;
    for (const char* path : {"/b/vmlinux", "/b/initramfs.cpio", "/img/base.ext4", "/vm/upper.ext4",
                             "/v/rw.ext4", "/dev/kvm"}) {
      CHECK(argv[i].find(path) == std::string::npos);
    }
  }
  CHECK(has_pair(argv, "-kernel", "/proc/self/fd/7"));
  CHECK(has_pair(argv, "-initrd", "/proc/self/fd/8"));
  // The console is a socket the engine reads and caps (capped_log.h), not a file QEMU fills.
  CHECK(has_pair(argv, "-chardev", "socket,id=console,fd=9"));
  CHECK(has_pair(argv, "-serial", "chardev:console"));
  CHECK(has_pair(argv, "-accel", "kvm,device=/dev/fdset/10"));
  CHECK(has_pair(argv, "-drive", "file=/dev/fdset/12,if=none,id=base,format=raw,readonly=on"));
  CHECK(has_pair(argv, "-drive",
                 "file=/dev/fdset/13,if=none,id=upper,format=raw,cache=unsafe,discard=unmap,"
                 "werror=report,rerror=report,file.auto-read-only=off"));
  // Every file but the two QEMU reopens by /proc/self/fd is exactly one fd set of its own
  // number, and each is opened with the access QEMU asks its set for.
  auto files = qemu_passed_files(s);
  std::vector<std::string> expected_sets;
  for (const auto& f : files) {
    if (f.reopened_by_path) continue;
    const std::string n = std::to_string(f.fd);
    expected_sets.push_back("fd=" + n + ",set=" + n + ",opaque=" + f.path.string());
  }
  CHECK(fd_sets(argv) == expected_sets);
  std::map<std::string, FileAccess> access;
  for (const auto& f : files) access[f.path.string()] = f.access;
  CHECK(access == std::map<std::string, FileAccess>{
                      {"/b/vmlinux", FileAccess::kRead},
                      {"/b/initramfs.cpio", FileAccess::kRead},
                      {"/dev/kvm", FileAccess::kReadWrite},
                      {"/img/base.ext4", FileAccess::kRead},
                      {"/vm/upper.ext4", FileAccess::kReadWrite},
                      {"/v/rw.ext4", FileAccess::kReadWrite},
                  });
}

TEST_CASE("QEMU under TCG is handed no KVM device", "[vm][confinement]") {
  VmSpec s = sample();
  s.accel = Accel::kTcg;
  auto files = qemu_passed_files(s);
  CHECK(
      std::none_of(files.begin(), files.end(), [](const PassedFile& f) { return f.fd == kKvmFd; }));
  CHECK(has_pair(qemu_argv(s), "-accel", "tcg"));
}

TEST_CASE("passed fd numbers are distinct and clear of the channels, even with every disk",
          "[vm][confinement]") {
  VmSpec s = sample();
  s.accel = Accel::kKvm;
  s.migration_file = "/warm/guest.state";
  for (size_t i = 0; i < 8; ++i)
    s.data_disks.push_back({"/d" + std::to_string(i), data_disk_serial(i), false});
  std::set<int> seen = {kControlFd, kQmpFd, kVfsFd, kConsoleFd};
  for (const auto& f : qemu_passed_files(s)) {
    CHECK(f.fd > 2);
    CHECK(f.fd < 64);  // QemuProcess moves sources above 63 before placing them
    CHECK(seen.insert(f.fd).second);
  }
  CHECK(seen.size() == 4 + 4 + 1 + 1 + 8);
}

TEST_CASE("a warm start's file is fd set 11: created when saving, read when restoring",
          "[vm][confinement]") {
  VmSpec s = sample();
  auto has_migration_fd = [](const std::vector<PassedFile>& files) {
    return std::any_of(files.begin(), files.end(),
                       [](const PassedFile& f) { return f.fd == kMigrationFd; });
  };
  CHECK_FALSE(has_migration_fd(qemu_passed_files(s)));
  s.migration_file = "/warm/k/guest.state.tmp";
  s.migration_writes = true;
  auto files = qemu_passed_files(s);
  REQUIRE(has_migration_fd(files));
  CHECK(has_pair(qemu_argv(s), "-add-fd", "fd=11,set=11,opaque=/warm/k/guest.state.tmp"));
  for (const auto& f : files) {
    if (f.fd == kMigrationFd) CHECK(f.access == FileAccess::kWriteCreate);
  }
  s.migration_writes = false;
  s.incoming_deferred = true;
  for (const auto& f : qemu_passed_files(s)) {
    if (f.fd == kMigrationFd) CHECK(f.access == FileAccess::kRead);
  }
  CHECK(fdset_path(kMigrationFd) == "/dev/fdset/11");
}

TEST_CASE("a tcg guest's cpu has no string-copy features, a kvm guest runs the host's", "[vm]") {
  auto s = sample();
  s.accel = Accel::kTcg;
  CHECK(has_pair(qemu_argv(s), "-cpu", "max,-erms,-fsrm"));
  s.accel = Accel::kKvm;
  CHECK(has_pair(qemu_argv(s), "-cpu", "host"));
}
