// Shared by the harnesses that read their input as a script of operations: little-endian
// fields taken from the front, zero once the input is used up (so every input is a valid script).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

namespace matchlock::fuzz {

class InputReader {
 public:
  InputReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return at_ >= size_; }
  uint8_t u8() { return at_ < size_ ? data_[at_++] : 0; }
  uint16_t u16() {
    const uint16_t low = u8();
    return static_cast<uint16_t>(low | (u8() << 8));
  }
  uint32_t u32() {
    const uint32_t low = u16();
    return low | (uint32_t{u16()} << 16);
  }
  // Up to `n` bytes (fewer at the end of the input).
  std::string bytes(size_t n) {
    n = std::min(n, size_ - at_);
    std::string out(reinterpret_cast<const char*>(data_ + at_), n);
    at_ += n;
    return out;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t at_ = 0;
};

}  // namespace matchlock::fuzz
