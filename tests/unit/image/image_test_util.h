// Helpers for image tests: temp dirs, in-memory tar/tar.gz building with libarchive, sha256.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "core/subprocess.h"
#include "image/archive_util.h"
#include "image/digest.h"

namespace matchlock::image::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ml-image-test-XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    path_ = ::mkdtemp(buf.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& p) const { return path_ / p; }

 private:
  std::filesystem::path path_;
};

enum class Compression { kNone, kGzip, kZstd };

// Builds a PAX tar in memory, entry by entry.
class TarBuilder {
 public:
  explicit TarBuilder(Compression c = Compression::kNone) : a_(archive_write_new()) {
    archive_write_set_format_pax_restricted(a_.get());
    if (c == Compression::kGzip) {
      archive_write_add_filter_gzip(a_.get());
      // No wall-clock time in the gzip header: the same content must give the same digest.
      archive_write_set_filter_option(a_.get(), "gzip", "timestamp", nullptr);
    }
    if (c == Compression::kZstd) archive_write_add_filter_zstd(a_.get());
    archive_write_open(a_.get(), &out_, nullptr, &TarBuilder::on_write, nullptr);
  }
  TarBuilder& file(const std::string& path, const std::string& content, int mode = 0644,
                   int uid = 0, int gid = 0, time_t mtime = 1700000000) {
    return add(path, AE_IFREG, mode, uid, gid, mtime, &content, nullptr, nullptr);
  }
  TarBuilder& dir(const std::string& path, int mode = 0755, int uid = 0, int gid = 0,
                  time_t mtime = 1700000000) {
    return add(path, AE_IFDIR, mode, uid, gid, mtime, nullptr, nullptr, nullptr);
  }
  TarBuilder& symlink(const std::string& path, const std::string& target, int uid = 0,
                      int gid = 0) {
    return add(path, AE_IFLNK, 0777, uid, gid, 1700000000, nullptr, &target, nullptr);
  }
  TarBuilder& hardlink(const std::string& path, const std::string& target) {
    return add(path, AE_IFREG, 0644, 0, 0, 1700000000, nullptr, nullptr, &target);
  }
  // A regular file carrying one extended attribute (written as a PAX xattr record).
  TarBuilder& file_with_xattr(const std::string& path, const std::string& content,
                              const std::string& xattr_name, const std::string& xattr_value) {
    pending_xattr_ = {xattr_name, xattr_value};
    return add(path, AE_IFREG, 0644, 0, 0, 1700000000, &content, nullptr, nullptr);
  }
  TarBuilder& fifo(const std::string& path) {
    return add(path, AE_IFIFO, 0644, 0, 0, 1700000000, nullptr, nullptr, nullptr);
  }
  TarBuilder& chardev(const std::string& path) {
    return add(path, AE_IFCHR, 0666, 0, 0, 1700000000, nullptr, nullptr, nullptr);
  }
  std::string finish() {
    archive_write_close(a_.get());
    return out_;
  }

 private:
  static la_ssize_t on_write(archive*, void* self, const void* buf, size_t len) {
    static_cast<std::string*>(self)->append(static_cast<const char*>(buf), len);
    return static_cast<la_ssize_t>(len);
  }
  TarBuilder& add(const std::string& path, mode_t type, int mode, int uid, int gid, time_t mtime,
                  const std::string* content, const std::string* symlink,
                  const std::string* hardlink) {
    ScopedUtf8Locale utf8;  // the writer converts names through the thread's locale
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(),
                                                               archive_entry_free);
    archive_entry_set_pathname(e.get(), path.c_str());
    archive_entry_set_filetype(e.get(), type);
    archive_entry_set_perm(e.get(), mode);
    archive_entry_set_uid(e.get(), uid);
    archive_entry_set_gid(e.get(), gid);
    archive_entry_set_mtime(e.get(), mtime, 0);
    if (symlink) archive_entry_set_symlink(e.get(), symlink->c_str());
    if (hardlink) archive_entry_set_hardlink(e.get(), hardlink->c_str());
    archive_entry_set_size(e.get(), content ? static_cast<la_int64_t>(content->size()) : 0);
    if (pending_xattr_) {
      archive_entry_xattr_add_entry(e.get(), pending_xattr_->first.c_str(),
                                    pending_xattr_->second.data(), pending_xattr_->second.size());
      pending_xattr_.reset();
    }
    archive_write_header(a_.get(), e.get());
    if (content && !content->empty())
      archive_write_data(a_.get(), content->data(), content->size());
    return *this;
  }
  struct Free {
    void operator()(archive* a) const { archive_write_free(a); }
  };
  std::string out_;
  std::optional<std::pair<std::string, std::string>> pending_xattr_;
  std::unique_ptr<archive, Free> a_;
};

inline void write_file(const std::filesystem::path& p, const std::string& data) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << data;
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string hex_of(const std::string& digest) {
  return digest.substr(7);
}

inline std::string config_json(const std::vector<std::string>& diff_ids,
                               const std::string& extra = "") {
  std::string ids;
  for (const auto& d : diff_ids) ids += (ids.empty() ? "\"" : ",\"") + d + "\"";
  return R"({"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"])" +
         extra + R"(},"rootfs":{"type":"layers","diff_ids":[)" + ids + "]}}";
}

// `debugfs -R <cmd> <image>` stdout (for assertions on the built ext4).
inline std::string debugfs_cmd(const std::filesystem::path& image, const std::string& cmd) {
  std::string out_file = image.string() + ".debugfs-out";
  std::string argv =
      "debugfs -R '" + cmd + "' " + image.string() + " > " + out_file + " 2>/dev/null";
  // Test-only: a shell is fine here; the product code never uses one.
  if (std::system(argv.c_str()) != 0) return {};
  std::string out = read_file(out_file);
  std::filesystem::remove(out_file);
  return out;
}

}  // namespace matchlock::image::testing
