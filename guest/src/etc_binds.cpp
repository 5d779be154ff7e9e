#include "etc_binds.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "core/unique_fd.h"
#include "fs_util.h"

namespace matchlock::guest_agent {
namespace {

constexpr const char* kConfigEtcFiles[] = {"hostname", "hosts", "resolv.conf"};
// Where the tmpfs is mounted while its files are bound; detached and removed afterwards (the
// binds keep the tmpfs alive), so nothing of it shows in /run.
constexpr const char* kStaging = "/run/.matchlock-etc";
// Room for what a workload appends to /etc/hosts; the image's content (up to 1 MiB) is copied in.
constexpr const char* kTmpfsOptions = "size=4m,nr_inodes=16,mode=0755";
constexpr size_t kMaxImageFileBytes = 1 << 20;

Error io_failure(const std::string& what) {
  return io_error(what + ": " + std::strerror(errno));
}

// What the tmpfs file starts as: the image's file, its content, mode and owner.
struct ImageFile {
  std::string content;
  mode_t mode = 0644;
  uid_t uid = 0;
  gid_t gid = 0;
};

// The image's /etc/<name> as the mount point: a regular file stays (it is returned), a symlink
// or a missing file becomes an empty file. Anything else (a directory) is refused.
Result<ImageFile> prepare_mount_point(const std::string& target) {
  struct stat st {};
  if (::lstat(target.c_str(), &st) == 0) {
    if (S_ISREG(st.st_mode)) {
      // Nothing but this boot runs yet: the file lstat saw is the one read.
      auto content = read_file(target, kMaxImageFileBytes);
      if (!content) return io_failure("read " + target);
      return ImageFile{std::move(*content), st.st_mode & 07777, st.st_uid, st.st_gid};
    }
    if (!S_ISLNK(st.st_mode)) return io_error(target + " is not a file");
    if (::unlink(target.c_str()) != 0) return io_failure("remove the link " + target);
  } else if (errno != ENOENT) {
    return io_failure("stat " + target);
  }
  UniqueFd made(::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!made) return io_failure("create " + target);
  return ImageFile{};
}

Status bind_file(const std::string& staging, const char* name) {
  const std::string target = std::string("/etc/") + name;
  auto image_file = prepare_mount_point(target);
  if (!image_file.ok()) return image_file.error();
  const std::string source = staging + "/" + name;
  if (!write_file(source, image_file->content) ||
      ::chown(source.c_str(), image_file->uid, image_file->gid) != 0 ||
      ::chmod(source.c_str(), image_file->mode) != 0) {
    return io_failure("write " + source);
  }
  if (::mount(source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return io_failure("bind " + target);
  }
  return {};
}

// Each file on its own: one the image made unusable (a directory) leaves the others bound, and
// CONFIG then writes that one in place as it can. The first failure is returned.
Status bind_files_from(const std::string& staging) {
  Status first;
  for (const char* name : kConfigEtcFiles) {
    Status bound = bind_file(staging, name);
    if (!bound.ok() && first.ok()) first = bound;
  }
  return first;
}

}  // namespace

Status bind_config_etc_files() {
  if (!make_dirs("/etc")) return io_failure("mkdir /etc");
  if (!make_dirs(kStaging, 0700)) return io_failure(std::string("mkdir ") + kStaging);
  if (::mount("matchlock-etc", kStaging, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              kTmpfsOptions) != 0) {
    Status failed = io_failure(std::string("mount a tmpfs on ") + kStaging);
    ::rmdir(kStaging);
    return failed;
  }
  Status bound = bind_files_from(kStaging);
  ::umount2(kStaging, MNT_DETACH);
  ::rmdir(kStaging);
  return bound;
}

}  // namespace matchlock::guest_agent
