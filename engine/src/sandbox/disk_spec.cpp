#include "sandbox/disk_spec.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "core/unique_fd.h"
#include "sandbox/mount_spec.h"
#include "volume/volume_store.h"

namespace matchlock::sandbox {
namespace {

// The ext4 superblock starts at byte 1024; its magic 0xEF53 (little-endian) at offset 56.
constexpr off_t kExt4MagicOffset = 1024 + 56;

bool is_within(const std::string& path, const std::string& dir) {
  if (dir == "/") return true;
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         path[dir.size()] == '/');
}

bool has_ext4_magic(int fd) {
  unsigned char magic[2] = {};
  return ::pread(fd, magic, sizeof magic, kExt4MagicOffset) == 2 && magic[0] == 0x53 &&
         magic[1] == 0xEF;
}

}  // namespace

Status resolve_disk_host(std::string_view host, const std::string& cwd, bool readonly,
                         DiskSpec& disk) {
  if (host.empty()) return invalid_argument("empty host path");
  if (host.find('\0') != std::string_view::npos)
    return invalid_argument("host path contains a NUL byte");
  std::string path;
  if (host.front() == '@') {
    std::string name(host.substr(1));
    auto volume = volume::find_volume(name);
    if (!volume.ok()) return volume.error();
    disk.volume = name;
    path = volume->path.string();
  } else {
    path = host.front() == '/' ? std::string(host) : cwd + "/" + std::string(host);
  }
  // The real file: the same image under two names is still one image.
  std::unique_ptr<char, decltype(&std::free)> real(::realpath(path.c_str(), nullptr), &std::free);
  if (!real) return invalid_argument("host file " + path + ": " + std::strerror(errno));
  disk.host_path = real.get();
  struct stat st {};
  if (::stat(disk.host_path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return invalid_argument("host file " + disk.host_path + ": not a regular file");
  }
  UniqueFd fd(::open(disk.host_path.c_str(), (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC));
  if (!fd) {
    return invalid_argument("host file " + disk.host_path + ": cannot open it " +
                            (readonly ? "for reading" : "read-write") + ": " +
                            std::strerror(errno));
  }
  if (!has_ext4_magic(fd.get())) {
    return invalid_argument("host file " + disk.host_path +
                            ": not an ext4 image (make one with `matchlock volume create`)");
  }
  return {};
}

Result<std::string> parse_disk_guest_path(std::string_view guest) {
  // The workspace rules: they keep the mount point away from what the guest itself needs.
  auto clean = parse_workspace(guest, "guest path");
  if (!clean.ok()) return invalid_argument(clean.error().message.substr(std::strlen("invalid ")));
  return clean;
}

Result<DiskSpec> parse_disk_flag(std::string_view value, const std::string& cwd) {
  auto fail = [&](const std::string& why) {
    return invalid_argument("invalid --disk \"" + std::string(value) + "\": " + why);
  };
  // HOST:GUEST[:ro]. GUEST has no ':' (its characters are restricted), so the last ':' before
  // an absolute GUEST splits; a host path may contain ':'.
  std::string_view rest = value;
  DiskSpec disk;
  auto last = rest.rfind(':');
  if (last != std::string_view::npos && last + 1 < rest.size() && rest[last + 1] != '/') {
    std::string_view option = rest.substr(last + 1);
    if (option != "ro") return fail("unknown option \"" + std::string(option) + "\" (only :ro)");
    disk.readonly = true;
    rest = rest.substr(0, last);
  }
  auto colon = rest.rfind(':');
  if (colon == std::string_view::npos) return fail("expected HOST_PATH:GUEST_PATH[:ro]");
  auto guest = parse_disk_guest_path(rest.substr(colon + 1));
  if (!guest.ok()) return fail(guest.error().message);
  disk.guest_path = *guest;
  if (auto st = resolve_disk_host(rest.substr(0, colon), cwd, disk.readonly, disk); !st.ok()) {
    return fail(st.error().message);
  }
  return disk;
}

std::optional<DiskConflict> find_disk_conflict(const std::vector<DiskSpec>& disks,
                                               const std::string& workspace) {
  if (disks.size() > kMaxDisks) {
    return DiskConflict{kMaxDisks, false,
                        "at most " + std::to_string(kMaxDisks) + " disks per sandbox"};
  }
  for (size_t i = 0; i < disks.size(); ++i) {
    const auto& d = disks[i];
    if (is_within(d.guest_path, workspace)) {
      return DiskConflict{
          i, true, "\"" + d.guest_path + "\" is shadowed by the workspace \"" + workspace + "\""};
    }
    if (is_within(workspace, d.guest_path)) {
      return DiskConflict{i, true,
                          "\"" + d.guest_path + "\" would hold the workspace \"" + workspace +
                              "\" (mount the disk elsewhere)"};
    }
    for (size_t j = 0; j < i; ++j) {
      if (disks[j].host_path == d.host_path) {
        return DiskConflict{i, false, "the same image as an earlier disk: " + d.host_path};
      }
      if (is_within(d.guest_path, disks[j].guest_path) ||
          is_within(disks[j].guest_path, d.guest_path)) {
        return DiskConflict{i, true,
                            "\"" + d.guest_path +
                                "\" overlaps the mount point of an earlier disk \"" +
                                disks[j].guest_path + "\""};
      }
    }
  }
  return std::nullopt;
}

}  // namespace matchlock::sandbox
