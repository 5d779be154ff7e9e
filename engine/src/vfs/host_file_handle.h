// An open host regular file: I/O goes to the fd itself, so it keeps working after the path
// was unlinked or renamed.
#pragma once

#include "core/unique_fd.h"
#include "vfs/provider.h"

namespace matchlock::vfs {

class HostFileHandle final : public FileHandle {
 public:
  HostFileHandle(UniqueFd fd, IdMap ids) : fd_(std::move(fd)), ids_(ids) {}

  Outcome<size_t> read(uint64_t offset, std::span<char> out) override;
  Outcome<size_t> write(uint64_t offset, std::string_view data) override;
  Outcome<size_t> read_into(uint64_t offset, std::span<const iovec> out) override;
  Outcome<size_t> write_from(uint64_t offset, std::span<const iovec> data) override;
  Outcome<Attr> stat() override;
  Outcome<Attr> change(const AttrChange& change) override;
  Status sync(bool data_only) override;

 private:
  UniqueFd fd_;
  IdMap ids_;
};

}  // namespace matchlock::vfs
