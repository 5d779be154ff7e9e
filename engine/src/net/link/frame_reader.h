// Splits QEMU's `-netdev stream` byte stream into Ethernet frames: each frame is preceded by
// its length as a 4-byte big-endian integer. The guest is hostile, so a length outside
// [14, max_frame] is a protocol error and the caller closes the link.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "core/result.h"

namespace matchlock::net {

inline constexpr size_t kEthHeaderLen = 14;

class FrameReader {
 public:
  using FrameFn = std::function<void(const uint8_t* frame, size_t len)>;
  explicit FrameReader(size_t max_frame) : max_frame_(max_frame) {}

  // Appends `len` bytes and calls `on_frame` for every complete frame. After an error the
  // reader stays failed: later calls return the same error without delivering anything.
  Status feed(const char* data, size_t len, const FrameFn& on_frame);

  // Bytes of an incomplete frame (or length prefix) kept for the next feed().
  size_t buffered() const { return buf_.size(); }
  size_t max_frame() const { return max_frame_; }

 private:
  size_t max_frame_;
  std::string buf_;
  std::string error_;
};

}  // namespace matchlock::net
