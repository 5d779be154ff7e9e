// The FUSE server's node ids: each names (parent node, name) plus the kernel's lookup count.
// A node's workspace path is computed by walking its parents, so renaming a directory moves
// its whole subtree at once. A node that was unlinked or renamed over is detached: it keeps
// its id (open handles still work) but has no path. Ids are never reused within a session,
// and a node is freed when the kernel forgets it and no child still hangs from it.
#pragma once

#include <linux/fuse.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "vfs/outcome.h"

namespace matchlock::vfs {

class NodeTable {
 public:
  static constexpr uint64_t kRoot = FUSE_ROOT_ID;

  explicit NodeTable(size_t max_nodes = 1 << 20);

  bool contains(uint64_t id) const { return nodes_.count(id) != 0; }
  size_t size() const { return nodes_.size(); }
  // Workspace-relative path ("" for the root); nullopt for an unknown or detached node.
  std::optional<std::string> path_of(uint64_t id) const;
  // The node for `name` in `parent`, created if new; counts one kernel lookup. ENFILE when
  // the table is full, ENOENT if the parent is unknown.
  Outcome<uint64_t> lookup(uint64_t parent, const std::string& name);
  // The kernel dropped `count` lookups.
  void forget(uint64_t id, uint64_t count);
  // After a successful rename: whatever was at the destination is detached and the source
  // node (if known) takes its place.
  void renamed(uint64_t old_parent, const std::string& old_name, uint64_t new_parent,
               const std::string& new_name);
  // After a successful RENAME_EXCHANGE: the two entries swap nodes.
  void exchanged(uint64_t parent_a, const std::string& name_a, uint64_t parent_b,
                 const std::string& name_b);
  // After a successful unlink or rmdir.
  void removed(uint64_t parent, const std::string& name);

 private:
  struct Node {
    uint64_t parent = 0;  // 0: detached (or the root)
    std::string name;
    uint64_t lookups = 0;
    uint64_t children = 0;  // attached child nodes still in the table
  };
  using Key = std::pair<uint64_t, std::string>;

  void detach(uint64_t id);
  void maybe_free(uint64_t id);

  size_t max_nodes_;
  uint64_t next_id_ = kRoot + 1;
  std::unordered_map<uint64_t, Node> nodes_;
  std::map<Key, uint64_t> by_name_;
};

}  // namespace matchlock::vfs
