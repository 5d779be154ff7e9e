// The shape of an image's filesystem without its file contents: every path's type, owner, mode
// and link target, read from the layer headers with whiteouts applied. COPY needs it to place
// files as docker does (a destination that is a directory of the image, parents that keep their
// metadata, /bin -> usr/bin links followed) and to look up --chown names, without flattening
// the image on the host. Layers are added in order, so a stage's tree grows with its steps.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "image/layer_flattener.h"

namespace matchlock::dockerbuild {

class ImageTree {
 public:
  // Reads one layer blob (any compression the store accepts) on top of what is there.
  Status add_layer(const std::filesystem::path& blob);

  // Metadata of a directory at `path` (relative, clean), or nullopt when there is none.
  std::optional<image::EntryMeta> directory(std::string_view path) const;
  // `path` (relative, clean) with the image's symlinks resolved inside the image (as if it were
  // "/"); a missing tail is kept as written. Errors on a symlink loop.
  Result<std::string> resolve(std::string_view path) const;
  // /etc/passwd and /etc/group as the image has them: "" when absent, or when the topmost one
  // is not a plain file this tree can read (a symlink, a hard link, larger than 4 MiB).
  const std::string& passwd() const { return passwd_; }
  const std::string& group() const { return group_; }

 private:
  struct Node {
    image::EntryMeta meta;
    std::string link;  // symlink target
  };
  void remove_tree(const std::string& path);
  void remove_children(const std::string& dir);
  bool is_regular_file(const std::string& path) const;
  void add_missing_parents(const std::string& path);

  std::map<std::string, Node> nodes_;  // by clean relative path
  std::string passwd_, group_;
};

// /etc/passwd text: the (uid, primary gid) of user `name`; nullopt if absent or malformed.
std::optional<std::pair<uint32_t, uint32_t>> find_user(const std::string& passwd,
                                                       std::string_view name);
// /etc/group text: the gid of group `name`.
std::optional<uint32_t> find_group(const std::string& group, std::string_view name);

}  // namespace matchlock::dockerbuild
