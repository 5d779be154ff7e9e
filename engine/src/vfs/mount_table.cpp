#include "vfs/mount_table.h"

#include <algorithm>
#include <set>

#include "vfs/memory_provider.h"

namespace matchlock::vfs {
namespace {

// A normalised mount point: "" or components joined by '/', none empty, "." or "..".
bool valid_point(const std::string& p) {
  if (p.empty()) return true;
  if (p.find('\0') != std::string::npos) return false;
  size_t pos = 0;
  while (pos <= p.size()) {
    size_t slash = p.find('/', pos);
    if (slash == std::string::npos) slash = p.size();
    std::string_view c(p.data() + pos, slash - pos);
    if (c.empty() || c == "." || c == ".." || c.size() > 255) return false;
    pos = slash + 1;
  }
  return true;
}

// Is `path` equal to or beneath `point`?
bool contains(const std::string& point, const std::string& path) {
  if (point.empty()) return true;
  if (path.size() < point.size() || path.compare(0, point.size(), point) != 0) return false;
  return path.size() == point.size() || path[point.size()] == '/';
}

}  // namespace

Result<MountTable> MountTable::create(std::vector<Mount> mounts) {
  std::set<std::string> seen;
  for (const Mount& m : mounts) {
    if (!valid_point(m.point)) return invalid_argument("bad mount point \"" + m.point + "\"");
    if (!m.provider) return invalid_argument("mount point \"" + m.point + "\" has no provider");
    if (!seen.insert(m.point).second) {
      return invalid_argument("two mounts on \"" + m.point + "\"");
    }
  }
  for (const Mount& outer : mounts) {
    if (!outer.single_file) continue;
    for (const Mount& inner : mounts) {
      if (&inner != &outer && contains(outer.point, inner.point)) {
        return invalid_argument("mount point \"" + inner.point + "\" is beneath the file \"" +
                                outer.point + "\"");
      }
    }
  }
  if (!seen.count("")) {
    MemoryProvider::Limits shared_root;
    shared_root.root_mode = 01777;
    mounts.push_back(Mount{"", std::make_shared<MemoryProvider>(shared_root), false});
  }
  std::stable_sort(mounts.begin(), mounts.end(),
                   [](const Mount& a, const Mount& b) { return a.point.size() > b.point.size(); });
  MountTable t;
  t.mounts_ = std::move(mounts);
  return t;
}

MountTable::Resolved MountTable::serving(const std::string& path) const {
  for (const Mount& m : mounts_) {
    if (!contains(m.point, path)) continue;
    std::string rel = m.point.empty()                 ? path
                      : path.size() == m.point.size() ? std::string()
                                                      : path.substr(m.point.size() + 1);
    return Resolved{&m, std::move(rel)};
  }
  return Resolved{};  // unreachable: create() always adds a root mount
}

MountTable::Resolved MountTable::resolve(const std::string& path) const {
  if (is_synthesised(path)) return Resolved{nullptr, path};
  return serving(path);
}

bool MountTable::is_mount_point(const std::string& path) const {
  return std::any_of(mounts_.begin(), mounts_.end(),
                     [&](const Mount& m) { return m.point == path; });
}

bool MountTable::is_synthesised(const std::string& path) const {
  if (is_mount_point(path)) return false;
  return std::any_of(mounts_.begin(), mounts_.end(), [&](const Mount& m) {
    return m.point.size() > path.size() && contains(path, m.point);
  });
}

std::vector<std::string> MountTable::children_of(const std::string& path) const {
  std::vector<std::string> out;
  for (const Mount& m : mounts_) {
    if (m.point.size() <= path.size() || !contains(path, m.point)) continue;
    size_t start = path.empty() ? 0 : path.size() + 1;
    size_t slash = m.point.find('/', start);
    std::string name =
        m.point.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(std::move(name));
  }
  return out;
}

}  // namespace matchlock::vfs
