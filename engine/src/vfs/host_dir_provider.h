// A provider serving a host directory, or a single host regular file as its root (then only
// path "" exists). Every access is confined beneath the root with openat2 (host_beneath.h);
// operations on a last component act on (confined parent fd, name) without following it.
// Guest ids map to host ids through IdMap; when the owner process is root, new nodes are
// chowned to the calling guest user's host ids.
#pragma once

#include <memory>
#include <string>

#include "core/unique_fd.h"
#include "vfs/host_beneath.h"
#include "vfs/provider.h"

namespace matchlock::vfs {

class HostDirProvider final : public Provider {
 public:
  // Opens `host_path` once (a directory or a regular file). Errors: the open's errno, or
  // EINVAL for anything else than a directory or regular file.
  static Outcome<std::unique_ptr<HostDirProvider>> serve(const std::string& host_path, IdMap ids,
                                                         bool owner_is_root);

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

  bool serves_single_file() const { return !root_name_.empty(); }

 private:
  HostDirProvider(UniqueFd base, std::string root_name, IdMap ids, bool owner_is_root);

  // The confined parent and last name of `path` (for a file root: the file's directory and
  // name, reachable only as path "").
  Outcome<Located> locate(const std::string& path) const;
  Outcome<UniqueFd> open_node(const std::string& path, uint64_t flags) const;
  Outcome<Attr> stat_located(const Located& at) const;
  // Gives a node just created the exact guest mode (the host umask is not the guest's) and,
  // when running as root, the caller's host ids.
  Status adopt_new_node(const Located& at, uint32_t mode, const Caller& caller, bool is_link);

  UniqueFd base_;          // the root directory, or the directory holding the root file
  std::string root_name_;  // empty for a directory root; else the root file's name in base_
  IdMap ids_;
  bool owner_is_root_;
};

// struct stat -> guest Attr (ids mapped to the guest).
Attr attr_from_stat(const struct stat& st, const IdMap& ids);

}  // namespace matchlock::vfs
