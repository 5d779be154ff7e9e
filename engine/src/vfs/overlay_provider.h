// A copy-on-write view of a host directory (or a single host file): the guest sees everything
// in the lower tree and may change anything, but the changes land in an upper directory the
// engine owns; the lower tree is only ever read (it is wrapped in a ReadOnlyProvider).
//
// Lookup order: hidden (deleted) -> upper -> lower.
// - Copy-up: a lower node is copied into the upper (parents first, as directories with the
//   lower mode and owner) before it is opened for writing or truncation, chmod'ed, chown'ed,
//   truncated, had its times set, linked or renamed. File content is copied in 1 MiB chunks
//   (not at all when the file is about to be truncated to zero).
//   A read-only handle opened before a copy-up keeps reading the lower file.
// - Deletions: `hidden_` holds paths under which the lower tree is no longer visible. A
//   deleted lower entry is a hidden path with nothing in the upper (a whiteout); a node created
//   at a hidden path stays hidden below (an opaque directory). It lives in memory only: the
//   upper directory dies with the sandbox, so nothing needs to read it back.
// - Directory rename: a directory with lower content is copied up recursively, then renamed in
//   the upper and made opaque (no EXDEV: git renames directories and does not handle it).
// - Inode numbers: lower nodes report their lower st_ino; a copied-up node keeps reporting it
//   (a path -> inode map, moved along by renames); a node born in the upper reports its upper
//   st_ino with bit 63 set so it cannot collide with a lower one. Hard links made in the overlay
//   to a copied-up file therefore show a different st_ino than the original path.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>

#include "vfs/provider.h"

namespace matchlock::vfs {

class OverlayProvider final : public Provider {
 public:
  // Serves `lower_host_path` (a directory or a regular file, never modified) with changes kept
  // in `upper_dir` (created 0700 if missing; the caller removes it with the sandbox).
  static Outcome<std::unique_ptr<OverlayProvider>> serve(const std::string& lower_host_path,
                                                         const std::string& upper_dir, IdMap ids,
                                                         bool owner_is_root);
  // `lower` is only read. With `single_file`, the root "" is a file, kept in the upper as
  // kUpperFileName once written.
  OverlayProvider(std::unique_ptr<Provider> lower, std::unique_ptr<Provider> upper,
                  bool single_file);

  static constexpr const char* kUpperFileName = "file";

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
  Outcome<FsStats> statfs() override { return upper_->statfs(); }
  bool read_only() const override { return false; }

 private:
  enum class Layer { Upper, Lower };
  struct Found {
    Layer layer;
    Attr attr;  // with the guest inode number
  };

  std::string upper_path(const std::string& path) const;
  bool lower_hidden(const std::string& path) const;
  bool lower_has(const std::string& path);
  Outcome<Attr> upper_stat(const std::string& path);
  Outcome<Found> find(const std::string& path);
  uint64_t guest_ino(const std::string& path, Layer layer, uint64_t layer_ino) const;

  Status ensure_upper_dir(const std::string& path);
  Status copy_up(const std::string& path, bool with_content = true);
  Status copy_up_tree(const std::string& path);
  Status copy_file(const std::string& path, const Attr& attr, bool with_content);
  Status copy_root_attrs(const Attr& attr);
  // Entry points shared by create/mkdir/symlink: the path must not exist in the view, and its
  // parent is copied up.
  Status prepare_new(const std::string& path);
  void mark_deleted(const std::string& path, bool lower_had_it);
  void move_inodes(const std::string& from, const std::string& to);
  void forget_inodes(const std::string& path);

  std::unique_ptr<Provider> lower_;
  std::unique_ptr<Provider> upper_;
  bool single_file_;
  bool root_copied_ = false;  // the upper root dir carries the root's attributes
  std::set<std::string> hidden_;
  std::map<std::string, uint64_t> copied_ino_;
};

}  // namespace matchlock::vfs
