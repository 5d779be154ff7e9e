// A read-only view of any provider: every call that would change the tree, or open a file for
// writing or truncation, fails with EROFS; handles it opens refuse write and change too.
#pragma once

#include <memory>

#include "vfs/provider.h"

namespace matchlock::vfs {

class ReadOnlyProvider final : public Provider {
 public:
  explicit ReadOnlyProvider(std::unique_ptr<Provider> inner) : inner_(std::move(inner)) {}

  Outcome<Attr> stat(const std::string& path) override { return inner_->stat(path); }
  Outcome<std::vector<DirEntry>> list(const std::string& path) override {
    return inner_->list(path);
  }
  Outcome<std::unique_ptr<FileHandle>> open(const std::string& path, int flags) override;
  Outcome<Created> create(const std::string&, int, uint32_t, const Caller&) override {
    return Errno{EROFS};
  }
  Outcome<Attr> mkdir(const std::string&, uint32_t, const Caller&) override { return Errno{EROFS}; }
  Outcome<Attr> symlink(const std::string&, const std::string&, const Caller&) override {
    return Errno{EROFS};
  }
  Outcome<std::string> readlink(const std::string& path) override { return inner_->readlink(path); }
  Outcome<Attr> link(const std::string&, const std::string&) override { return Errno{EROFS}; }
  Status unlink(const std::string&) override { return Errno{EROFS}; }
  Status rmdir(const std::string&) override { return Errno{EROFS}; }
  Status rename(const std::string&, const std::string&, unsigned) override { return Errno{EROFS}; }
  Outcome<Attr> change(const std::string&, const AttrChange&) override { return Errno{EROFS}; }
  Outcome<FsStats> statfs() override { return inner_->statfs(); }
  bool read_only() const override { return true; }

 private:
  std::unique_ptr<Provider> inner_;
};

}  // namespace matchlock::vfs
