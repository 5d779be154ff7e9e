#include "vfs/node_table.h"

#include <vector>

namespace matchlock::vfs {

NodeTable::NodeTable(size_t max_nodes) : max_nodes_(max_nodes) {
  nodes_[kRoot] = Node{};
}

std::optional<std::string> NodeTable::path_of(uint64_t id) const {
  std::vector<const std::string*> parts;
  while (id != kRoot) {
    auto it = nodes_.find(id);
    if (it == nodes_.end() || it->second.parent == 0) return std::nullopt;
    parts.push_back(&it->second.name);
    id = it->second.parent;
  }
  std::string path;
  for (auto p = parts.rbegin(); p != parts.rend(); ++p) {
    if (!path.empty()) path += '/';
    path += **p;
  }
  return path;
}

Outcome<uint64_t> NodeTable::lookup(uint64_t parent, const std::string& name) {
  auto pit = nodes_.find(parent);
  if (pit == nodes_.end() || (parent != kRoot && pit->second.parent == 0)) return Errno{ENOENT};
  auto it = by_name_.find(Key{parent, name});
  if (it != by_name_.end()) {
    ++nodes_[it->second].lookups;
    return it->second;
  }
  if (nodes_.size() >= max_nodes_) return Errno{ENFILE};
  uint64_t id = next_id_++;
  nodes_[id] = Node{parent, name, 1, 0};
  ++pit->second.children;
  by_name_[Key{parent, name}] = id;
  return id;
}

void NodeTable::forget(uint64_t id, uint64_t count) {
  auto it = nodes_.find(id);
  if (it == nodes_.end() || id == kRoot) return;
  it->second.lookups -= std::min(count, it->second.lookups);
  maybe_free(id);
}

void NodeTable::detach(uint64_t id) {
  auto it = nodes_.find(id);
  if (it == nodes_.end() || it->second.parent == 0) return;
  uint64_t parent = it->second.parent;
  by_name_.erase(Key{parent, it->second.name});
  it->second.parent = 0;
  it->second.name.clear();
  --nodes_[parent].children;
  maybe_free(parent);
  maybe_free(id);
}

void NodeTable::maybe_free(uint64_t id) {
  // Walks up: freeing a child may leave its parent with nothing holding it.
  while (id != kRoot) {
    auto it = nodes_.find(id);
    if (it == nodes_.end() || it->second.lookups != 0 || it->second.children != 0) return;
    uint64_t parent = it->second.parent;
    if (parent != 0) {
      by_name_.erase(Key{parent, it->second.name});
      --nodes_[parent].children;
    }
    nodes_.erase(it);
    if (parent == 0) return;
    id = parent;
  }
}

void NodeTable::renamed(uint64_t old_parent, const std::string& old_name, uint64_t new_parent,
                        const std::string& new_name) {
  if (old_parent == new_parent && old_name == new_name) return;
  auto np = nodes_.find(new_parent);
  if (np == nodes_.end()) return;  // cannot happen after a successful rename
  ++np->second.children;           // holds the new parent while the destination is detached
  auto dst = by_name_.find(Key{new_parent, new_name});
  if (dst != by_name_.end()) detach(dst->second);
  auto src = by_name_.find(Key{old_parent, old_name});
  if (src == by_name_.end()) {
    --nodes_[new_parent].children;
    maybe_free(new_parent);
    return;
  }
  uint64_t id = src->second;
  by_name_.erase(src);
  Node& n = nodes_[id];
  n.parent = new_parent;
  n.name = new_name;
  by_name_[Key{new_parent, new_name}] = id;
  --nodes_[old_parent].children;
  maybe_free(old_parent);
}

void NodeTable::exchanged(uint64_t parent_a, const std::string& name_a, uint64_t parent_b,
                          const std::string& name_b) {
  auto a = by_name_.find(Key{parent_a, name_a});
  auto b = by_name_.find(Key{parent_b, name_b});
  uint64_t id_a = a == by_name_.end() ? 0 : a->second;
  uint64_t id_b = b == by_name_.end() ? 0 : b->second;
  // Detach both (keeping their parents alive), then re-attach each under the other's name.
  for (uint64_t p : {parent_a, parent_b}) ++nodes_[p].children;
  for (uint64_t id : {id_a, id_b}) {
    if (id == 0) continue;
    Node& n = nodes_[id];
    by_name_.erase(Key{n.parent, n.name});
    --nodes_[n.parent].children;
    n.parent = 0;
  }
  auto attach = [&](uint64_t id, uint64_t parent, const std::string& name) {
    if (id == 0) return;
    Node& n = nodes_[id];
    n.parent = parent;
    n.name = name;
    ++nodes_[parent].children;
    by_name_[Key{parent, name}] = id;
  };
  attach(id_a, parent_b, name_b);
  attach(id_b, parent_a, name_a);
  for (uint64_t p : {parent_a, parent_b}) {
    --nodes_[p].children;
    maybe_free(p);
  }
}

void NodeTable::removed(uint64_t parent, const std::string& name) {
  auto it = by_name_.find(Key{parent, name});
  if (it != by_name_.end()) detach(it->second);
}

}  // namespace matchlock::vfs
