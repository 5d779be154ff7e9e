// Reading layer tars back in tests: every entry with its header fields and content.
#pragma once

#include <fcntl.h>

#include <map>
#include <string>
#include <vector>

#include "core/unique_fd.h"
#include "image_test_util.h"

namespace matchlock::image::testing {

struct ListedEntry {
  std::string path;
  unsigned type = 0;  // AE_IF*
  unsigned perm = 0;
  int64_t uid = 0, gid = 0, mtime = 0, mtime_nsec = 0, size = 0;
  std::string content, symlink, hardlink, uname, gname;
  std::map<std::string, std::string> xattrs;
  unsigned dev_major = 0, dev_minor = 0;
  bool mtime_has_atime = false;
};

inline std::vector<ListedEntry> list_tar(const std::string& bytes) {
  ScopedUtf8Locale utf8;
  std::unique_ptr<archive, int (*)(archive*)> a(archive_read_new(), archive_read_free);
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_empty(a.get());
  std::vector<ListedEntry> out;
  if (archive_read_open_memory(a.get(), bytes.data(), bytes.size()) != ARCHIVE_OK) return out;
  archive_entry* e = nullptr;
  while (archive_read_next_header(a.get(), &e) == ARCHIVE_OK) {
    ListedEntry l;
    l.path = archive_entry_pathname(e);
    l.type = archive_entry_filetype(e);
    l.perm = archive_entry_perm(e);
    l.uid = archive_entry_uid(e);
    l.gid = archive_entry_gid(e);
    l.mtime = archive_entry_mtime(e);
    l.mtime_nsec = archive_entry_mtime_nsec(e);
    l.size = archive_entry_size(e);
    if (auto s = archive_entry_symlink(e)) l.symlink = s;
    if (auto s = archive_entry_hardlink(e)) l.hardlink = s;
    if (auto s = archive_entry_uname(e)) l.uname = s;
    if (auto s = archive_entry_gname(e)) l.gname = s;
    l.mtime_has_atime = archive_entry_atime_is_set(e);
    l.dev_major = archive_entry_rdevmajor(e);
    l.dev_minor = archive_entry_rdevminor(e);
    archive_entry_xattr_reset(e);
    const char* n = nullptr;
    const void* v = nullptr;
    size_t sz = 0;
    while (archive_entry_xattr_next(e, &n, &v, &sz) == ARCHIVE_OK) {
      l.xattrs[n] = std::string(static_cast<const char*>(v), sz);
    }
    char buf[4096];
    la_ssize_t r;
    while ((r = archive_read_data(a.get(), buf, sizeof buf)) > 0) l.content.append(buf, r);
    out.push_back(std::move(l));
  }
  return out;
}

inline std::vector<std::string> paths_of(const std::vector<ListedEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.path);
  return out;
}

inline const ListedEntry* find_entry(const std::vector<ListedEntry>& entries,
                                     const std::string& path) {
  for (const auto& e : entries) {
    if (e.path == path) return &e;
  }
  return nullptr;
}

// An fd reading `data` (through a temp file, so any size works).
inline UniqueFd fd_of(const TempDir& tmp, const std::string& data) {
  static int n = 0;
  auto p = tmp / ("input-" + std::to_string(n++));
  write_file(p, data);
  return UniqueFd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
}

}  // namespace matchlock::image::testing
