#include "vm/bundle.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/knobs.h"
#include "core/subprocess.h"
#include "core/unique_fd.h"

namespace matchlock::vm {

Result<GuestBundle> locate_bundle() {
  std::filesystem::path dir;
  if (auto env = knobs::get(knobs::kBundle)) {
    dir = *env;
  } else {
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return io_error("cannot find the matchlock binary: " + ec.message());
    dir = exe.parent_path() / "bundle";
  }
  GuestBundle b{dir / "vmlinux", dir / "initramfs.cpio"};
  for (const auto& p : {b.kernel, b.initrd}) {
    if (!std::filesystem::exists(p)) {
      return Error(ErrorCode::kNotFound,
                   "guest bundle file " + p.string() +
                       " is missing (run scripts/setup.sh, or set MATCHLOCK_BUNDLE)");
    }
  }
  return b;
}

Status create_upper_disk(const std::filesystem::path& path, uint64_t size_mib) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) return io_error("create " + path.string() + ": " + std::strerror(errno));
  if (::ftruncate(fd.get(), static_cast<off_t>(size_mib) * 1024 * 1024) != 0) {
    return io_error("size " + path.string() + ": " + std::strerror(errno));
  }
  fd.reset();
  // No journal: the upper layer dies with the sandbox, so crash consistency buys nothing; nor
  // do backup superblocks. Its metadata packed at the start of the file, not spread over every
  // block group: removing the file then frees a few extents instead of one per group, which a
  // host filesystem mounted with `discard` turns into a discard each (rm of a 5 GiB upper:
  // 50-70 ms before, 20 ms after, on the project's machine) at the end of every sandbox.
  return run_tool("mkfs.ext4", {"-q", "-F", "-L", "upper", "-O", "^has_journal,sparse_super2", "-E",
                                "num_backup_sb=0,packed_meta_blocks=1,lazy_itable_init=1,"
                                "root_owner=0:0",
                                path.string()});
}

}  // namespace matchlock::vm
