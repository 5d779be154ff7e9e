#include "rpc/block_buffer.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <new>

namespace matchlock::rpc {

void BlockBuffer::Unmap::operator()(char* block) const {
  munmap(block, kBlockBytes);
}

void BlockBuffer::append(std::string_view bytes) {
  while (!bytes.empty()) {
    size_t used = size_ % kBlockBytes;
    if (used == 0 && size_ == blocks_.size() * kBlockBytes) {
      void* block =
          mmap(nullptr, kBlockBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (block == MAP_FAILED) throw std::bad_alloc();  // as a failed std::string append would
      blocks_.emplace_back(static_cast<char*>(block));
    }
    size_t n = std::min(bytes.size(), kBlockBytes - used);
    std::memcpy(blocks_.back().get() + used, bytes.data(), n);
    size_ += n;
    bytes.remove_prefix(n);
  }
}

std::vector<std::string_view> BlockBuffer::pieces() const {
  std::vector<std::string_view> out;
  out.reserve(blocks_.size());
  size_t left = size_;
  for (const auto& block : blocks_) {
    size_t n = std::min(left, kBlockBytes);
    out.emplace_back(block.get(), n);
    left -= n;
  }
  return out;
}

void BlockBuffer::release_block(size_t i) {
  if (i < blocks_.size()) blocks_[i].reset();
}

void BlockBuffer::clear() {
  blocks_.clear();
  blocks_.shrink_to_fit();
  size_ = 0;
}

}  // namespace matchlock::rpc
