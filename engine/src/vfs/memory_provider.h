// The in-memory provider: a tree of directories, regular files and symlinks that lives only as
// long as the sandbox. It is the workspace root when the user mounts nothing. Open files hold
// their node, so an unlinked or renamed-over file keeps working through its handle. Total file
// data is bounded (ENOSPC beyond it) so a guest cannot exhaust host memory through it.
#pragma once

#include <cstdint>
#include <memory>

#include "vfs/provider.h"

namespace matchlock::vfs {

class MemoryProvider : public Provider {
 public:
  struct Limits {
    uint64_t max_bytes = uint64_t{1} << 30;  // file and symlink contents together
    uint64_t max_nodes = 1 << 20;
    // The root directory's permission bits. The implicit workspace (no mount at its root) is
    // 01777, like /tmp, so every guest user can work there; other memory mounts are 0755.
    uint32_t root_mode = 0755;
  };
  MemoryProvider();
  explicit MemoryProvider(Limits limits);
  ~MemoryProvider() override;

  Outcome<Attr> stat(const std::string& path) override;
  Outcome<std::vector<DirEntry>> list(const std::string& path) override;
  Outcome<std::unique_ptr<FileHandle>> open(const std::string& path, int flags) override;
  Outcome<Created> create(const std::string& path, int flags, uint32_t mode,
                          const Caller& caller) override;
  Outcome<Attr> mkdir(const std::string& path, uint32_t mode, const Caller& caller) override;
  Outcome<Attr> symlink(const std::string& target, const std::string& path,
                        const Caller& caller) override;
  Outcome<std::string> readlink(const std::string& path) override;
  Outcome<Attr> link(const std::string& existing, const std::string& new_path) override;
  Status unlink(const std::string& path) override;
  Status rmdir(const std::string& path) override;
  Status rename(const std::string& from, const std::string& to, unsigned flags) override;
  Outcome<Attr> change(const std::string& path, const AttrChange& change) override;
  Outcome<FsStats> statfs() override;
  bool read_only() const override { return false; }

  struct Node;   // one inode
  struct State;  // the tree plus accounting, shared with open handles

 private:
  std::shared_ptr<State> state_;
};

}  // namespace matchlock::vfs
