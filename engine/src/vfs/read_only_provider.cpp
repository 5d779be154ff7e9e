#include "vfs/read_only_provider.h"

#include <fcntl.h>

namespace matchlock::vfs {

namespace {

class ReadOnlyHandle final : public FileHandle {
 public:
  explicit ReadOnlyHandle(std::unique_ptr<FileHandle> inner) : inner_(std::move(inner)) {}
  Outcome<size_t> read(uint64_t offset, std::span<char> out) override {
    return inner_->read(offset, out);
  }
  Outcome<size_t> write(uint64_t, std::string_view) override { return Errno{EROFS}; }
  Outcome<size_t> read_into(uint64_t offset, std::span<const iovec> out) override {
    return inner_->read_into(offset, out);
  }
  Outcome<size_t> write_from(uint64_t, std::span<const iovec>) override { return Errno{EROFS}; }
  Outcome<Attr> stat() override { return inner_->stat(); }
  Outcome<Attr> change(const AttrChange&) override { return Errno{EROFS}; }
  Status sync(bool data_only) override { return inner_->sync(data_only); }

 private:
  std::unique_ptr<FileHandle> inner_;
};

}  // namespace

Outcome<std::unique_ptr<FileHandle>> ReadOnlyProvider::open(const std::string& path, int flags) {
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_TRUNC | O_APPEND))) return Errno{EROFS};
  auto inner = inner_->open(path, O_RDONLY);
  if (!inner) return Errno{inner.error()};
  return std::unique_ptr<FileHandle>(new ReadOnlyHandle(std::move(inner.value())));
}

}  // namespace matchlock::vfs
