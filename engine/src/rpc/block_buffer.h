// Bytes kept in fixed-size blocks instead of one growing string, for buffered exec output:
// appending never copies what is already held (a doubling string briefly holds 1.5x its
// size while it moves), and every full block is a multiple of 3 bytes, so the blocks encode
// to base64 one after another with no carry between them. Blocks are mapped straight from the
// kernel and unmapped when cleared: freed, they leave nothing resident behind (malloc keeps
// freed blocks of this size in its heap once a large free has raised its mmap threshold).
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

namespace matchlock::rpc {

class BlockBuffer {
 public:
  static constexpr size_t kBlockBytes = 3 * 256 * 1024;  // 768 KiB, a multiple of 3 and pages

  void append(std::string_view bytes);
  size_t size() const { return size_; }
  // The blocks in order; each but the last is exactly kBlockBytes.
  std::vector<std::string_view> pieces() const;
  // Unmaps block `i` of pieces() once it has been used; the other pieces stay valid. Only
  // clear() may follow.
  void release_block(size_t i);
  void clear();

 private:
  struct Unmap {
    void operator()(char* block) const;
  };
  std::vector<std::unique_ptr<char, Unmap>> blocks_;
  size_t size_ = 0;
};

}  // namespace matchlock::rpc
