// Extra data disks of a sandbox (`run --disk HOST:GUEST[:ro]` or `--disk @NAME:GUEST[:ro]`,
// rpc create `extra_disks`): ext4 images attached as virtio-blk devices and mounted by the guest
// at GUEST. The image is used in place, so what the guest writes stays in the file. Everything
// is checked before anything starts; the CLI and rpc only word the errors their own way.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace matchlock::sandbox {

struct DiskSpec {
  std::string host_path;   // absolute, symlinks resolved: a regular file holding ext4
  std::string guest_path;  // absolute, normalised mount point in the guest
  bool readonly = false;
  std::string volume;  // the named volume it came from ("" for a plain host path)
};

// QEMU's microvm has a fixed number of virtio-mmio slots, most of which the sandbox's own
// devices take.
inline constexpr size_t kMaxDisks = 8;

// HOST (a path, relative to `cwd`, or @NAME for a named volume) resolved to the image file and
// checked: exists, regular file, ext4 superblock, readable (and writable unless `readonly`).
// Errors are the bare reason; callers add which value they are about.
Status resolve_disk_host(std::string_view host, const std::string& cwd, bool readonly,
                         DiskSpec& disk);

// GUEST: an absolute path of [A-Za-z0-9/_.-], normalised, not / nor a system directory.
Result<std::string> parse_disk_guest_path(std::string_view guest);

// One `--disk` value. Errors: `invalid --disk "VALUE": <reason>`.
Result<DiskSpec> parse_disk_flag(std::string_view value, const std::string& cwd);

// The rules over the whole set, with the workspace known: at most kMaxDisks, no image twice, no
// mount point twice or inside another disk's, none at or beneath the workspace (which would
// shadow it). On a violation, the index of the later disk involved and whether its host path or
// its guest path is at fault.
struct DiskConflict {
  size_t index = 0;
  bool guest_side = false;
  std::string why;
};
std::optional<DiskConflict> find_disk_conflict(const std::vector<DiskSpec>& disks,
                                               const std::string& workspace);

}  // namespace matchlock::sandbox
