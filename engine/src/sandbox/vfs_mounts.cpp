#include "sandbox/vfs_mounts.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "vfs/host_dir_provider.h"
#include "vfs/memory_provider.h"
#include "vfs/overlay_provider.h"
#include "vfs/read_only_provider.h"

namespace matchlock::sandbox {
namespace {

// The user running matchlock owns the mounted files; in the guest they belong to root, the
// user every exec runs as unless told otherwise (vfs/provider.h, IdMap).
vfs::IdMap owner_as_guest_root() {
  vfs::IdMap ids;
  ids.host_uid = ::geteuid();
  ids.host_gid = ::getegid();
  return ids;
}

Error mount_error(const MountSpec& spec, int err) {
  return Error(ErrorCode::kIo,
               "mount " + spec.host_path + " at " + spec.guest_path + ": " + std::strerror(err));
}

Result<std::shared_ptr<vfs::Provider>> make_provider(const MountSpec& spec,
                                                     const std::filesystem::path& upper_dir) {
  const auto ids = owner_as_guest_root();
  const bool root = ::geteuid() == 0;
  switch (spec.mode) {
    case MountMode::kMemory:
      return std::shared_ptr<vfs::Provider>(std::make_shared<vfs::MemoryProvider>());
    case MountMode::kHostFs:
    case MountMode::kReadOnly: {
      auto host = vfs::HostDirProvider::serve(spec.host_path, ids, root);
      if (!host.ok()) return mount_error(spec, host.error());
      if (spec.mode == MountMode::kHostFs) return std::shared_ptr<vfs::Provider>(std::move(*host));
      return std::shared_ptr<vfs::Provider>(
          std::make_shared<vfs::ReadOnlyProvider>(std::move(*host)));
    }
    case MountMode::kOverlay: {
      auto overlay = vfs::OverlayProvider::serve(spec.host_path, upper_dir.string(), ids, root);
      if (!overlay.ok()) return mount_error(spec, overlay.error());
      return std::shared_ptr<vfs::Provider>(std::move(*overlay));
    }
  }
  return Error(ErrorCode::kInternal, "unknown mount mode");
}

}  // namespace

std::string workspace_relative(const std::string& workspace, const std::string& guest_path) {
  if (guest_path.size() <= workspace.size()) return "";
  return guest_path.substr(workspace.size() + 1);  // past "<workspace>/"
}

Result<vfs::MountTable> build_mount_table(const VfsOptions& options,
                                          const std::filesystem::path& sandbox_dir) {
  std::vector<vfs::Mount> mounts;
  // Overlay uppers live beneath <sandbox>/vfs, private to the owner like the rest of the dir.
  if (!options.mounts.empty() && ::mkdir((sandbox_dir / "vfs").c_str(), 0700) != 0 &&
      errno != EEXIST) {
    return Error(ErrorCode::kIo,
                 "create " + (sandbox_dir / "vfs").string() + ": " + std::strerror(errno));
  }
  int n = 0;
  for (const auto& spec : options.mounts) {
    auto upper = sandbox_dir / "vfs" / ("mount-" + std::to_string(n++));
    auto provider = make_provider(spec, upper);
    if (!provider.ok()) return provider.error();
    vfs::Mount m;
    m.point = workspace_relative(options.workspace, spec.guest_path);
    m.provider = std::move(provider.value());
    // Asked of the provider, which holds the path open: not a second lookup of the host path.
    auto root = m.provider->stat("");
    m.single_file = root.ok() && S_ISREG(root->mode);
    mounts.push_back(std::move(m));
  }
  return vfs::MountTable::create(std::move(mounts));
}

}  // namespace matchlock::sandbox
