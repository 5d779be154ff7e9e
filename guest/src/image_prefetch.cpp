#include "image_prefetch.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <vector>

#include "core/unique_fd.h"

namespace matchlock::guest_agent {
namespace {

// The shell (`sh -c` runs most commands), then the dynamic loaders and C libraries of glibc
// (Debian's and Fedora's layouts) and musl images. Static binaries (BusyBox) need only the first.
constexpr std::array kFirstExecFiles = {
    "/bin/sh",
    "/lib64/ld-linux-x86-64.so.2",
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/usr/lib/x86_64-linux-gnu/libc.so.6",
    "/usr/lib64/libc.so.6",
    "/lib/ld-musl-x86_64.so.1",
};
// A shell or C library is a few MB; anything far larger is not what we meant to read.
constexpr off_t kMaxFileBytes = 16 << 20;
constexpr size_t kChunk = 256 << 10;

void read_whole(const char* path, std::vector<char>& buffer) {
  UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > kMaxFileBytes) {
    return;
  }
  while (::read(fd.get(), buffer.data(), buffer.size()) > 0) {
  }
}

}  // namespace

void prefetch_first_exec_files() {
  std::vector<char> buffer(kChunk);
  for (const char* path : kFirstExecFiles) read_whole(path, buffer);
}

}  // namespace matchlock::guest_agent
