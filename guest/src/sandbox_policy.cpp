#include "sandbox_policy.h"

#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <iterator>

namespace matchlock::guest_agent {
namespace {

// Capabilities that would let a sandboxed root escape or take over the guest kernel.
constexpr int kDroppedCapabilities[] = {CAP_SYS_PTRACE, CAP_SYS_ADMIN, CAP_SYS_MODULE,
                                        CAP_SYS_RAWIO, CAP_SYS_BOOT};

constexpr uint32_t kX32SyscallBit = 0x40000000;

// Syscalls denied with EPERM, per ABI. x32 shares AUDIT_ARCH_X86_64 but has its own numbers.
constexpr uint32_t kDeniedX86_64[] = {
    SYS_ptrace,           SYS_process_vm_readv, SYS_process_vm_writev,
    SYS_kexec_load,       SYS_kexec_file_load,  kX32SyscallBit | 521,
    kX32SyscallBit | 539, kX32SyscallBit | 540, kX32SyscallBit | 528};
// i386 binaries run on x86_64 kernels too; these are the i386 numbers of the same calls.
constexpr uint32_t kDeniedI386[] = {26, 347, 348, 283};

sock_filter statement(uint16_t code, uint32_t k) {
  return BPF_STMT(code, k);
}
sock_filter jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) {
  return BPF_JUMP(code, k, jt, jf);
}

// Program layout:
//   load arch; x86_64? -> x86_64 block; i386? -> i386 block; else allow
//   each block: load nr; one "equal -> deny" test per denied number; allow
//   deny: return EPERM
template <size_t N>
void append_block(sock_filter* program, size_t& at, const uint32_t (&denied)[N],
                  size_t deny_index) {
  program[at++] = statement(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr));
  for (uint32_t nr : denied) {
    size_t distance = deny_index - (at + 1);
    program[at] = jump(BPF_JMP | BPF_JEQ | BPF_K, nr, static_cast<uint8_t>(distance), 0);
    ++at;
  }
  program[at++] = statement(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
}

}  // namespace

int drop_dangerous_capabilities() {
  for (int capability : kDroppedCapabilities) {
    if (::prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0) return errno;
  }
  return 0;
}

int restrict_syscalls() {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno;

  constexpr size_t kX86_64Block = 1 + std::size(kDeniedX86_64) + 1;
  constexpr size_t kI386Block = 1 + std::size(kDeniedI386) + 1;
  constexpr size_t kHeader = 4;  // load arch, two arch tests, allow
  constexpr size_t kLength = kHeader + kX86_64Block + kI386Block + 1;
  sock_filter program[kLength];
  const size_t x86_64_start = kHeader;
  const size_t i386_start = kHeader + kX86_64Block;
  const size_t deny_index = kLength - 1;

  size_t at = 0;
  program[at++] = statement(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch));
  program[at] = jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64,
                     static_cast<uint8_t>(x86_64_start - (at + 1)), 0);
  ++at;
  program[at] = jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_I386,
                     static_cast<uint8_t>(i386_start - (at + 1)), 0);
  ++at;
  // Unknown architecture: allowed (killing would be harsher than the threat warrants).
  program[at++] = statement(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  append_block(program, at, kDeniedX86_64, deny_index);
  append_block(program, at, kDeniedI386, deny_index);
  program[at++] = statement(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));

  sock_fprog fprog{static_cast<unsigned short>(at), program};
  if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) != 0) return errno;
  return 0;
}

}  // namespace matchlock::guest_agent
