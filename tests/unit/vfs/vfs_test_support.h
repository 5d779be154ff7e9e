// Host fixtures for the provider tests: temporary directories, host file helpers, and a
// snapshot of a host tree (names, types, modes, owners, times, contents) to prove it unchanged.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "vfs/provider.h"

namespace vfs_test {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/matchlock-vfs-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

inline void write_host(const std::string& path, const std::string& content, mode_t mode = 0644) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  REQUIRE(::chmod(path.c_str(), mode) == 0);
}

inline std::string read_host(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline bool host_exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// FNV-1a over the file, read in chunks (files may be large).
inline uint64_t host_checksum(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  uint64_t h = 1469598103934665603ull;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    for (std::streamsize i = 0; i < in.gcount(); ++i) {
      h = (h ^ static_cast<unsigned char>(buf[i])) * 1099511628211ull;
    }
  }
  return h;
}

// One line per node below `root` (sorted): path, mode, ids, size, mtime, ino and content
// checksum or link target. Directory mtimes are included: any change shows.
inline std::string tree_snapshot(const std::string& root) {
  std::vector<std::string> lines;
  auto describe = [&](const std::string& path, const std::string& rel) {
    struct stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    std::ostringstream line;
    line << rel << " mode=" << std::oct << st.st_mode << std::dec << " uid=" << st.st_uid
         << " gid=" << st.st_gid << " size=" << st.st_size << " ino=" << st.st_ino
         << " mtime=" << st.st_mtim.tv_sec << "." << st.st_mtim.tv_nsec;
    if (S_ISREG(st.st_mode)) line << " sum=" << host_checksum(path);
    if (S_ISLNK(st.st_mode)) line << " target=" << std::filesystem::read_symlink(path).string();
    lines.push_back(line.str());
  };
  describe(root, ".");
  if (std::filesystem::is_directory(std::filesystem::symlink_status(root))) {
    for (auto& e : std::filesystem::recursive_directory_iterator(root)) {
      describe(e.path().string(), std::filesystem::relative(e.path(), root).string());
    }
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (auto& l : lines) out += l + "\n";
  return out;
}

// Everything a handle holds, read in chunks.
inline std::string read_all(matchlock::vfs::FileHandle& h) {
  std::string out;
  std::string buf(1 << 16, '\0');
  for (uint64_t off = 0;;) {
    auto n = h.read(off, buf);
    REQUIRE(n.ok());
    if (*n == 0) return out;
    out.append(buf.data(), *n);
    off += *n;
  }
}

inline std::vector<std::string> names_of(const std::vector<matchlock::vfs::DirEntry>& entries) {
  std::vector<std::string> names;
  for (auto& e : entries) names.push_back(e.name);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace vfs_test
