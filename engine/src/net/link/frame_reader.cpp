#include "net/link/frame_reader.h"

namespace matchlock::net {
namespace {

uint32_t read_be32(const char* p) {
  auto b = reinterpret_cast<const uint8_t*>(p);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}

}  // namespace

Status FrameReader::feed(const char* data, size_t len, const FrameFn& on_frame) {
  if (!error_.empty()) return Error(ErrorCode::kProtocol, error_);
  // Fast path: parse straight from `data` while nothing is buffered, copy only the tail.
  const char* p = data;
  size_t n = len;
  if (!buf_.empty()) {
    buf_.append(data, len);
    p = buf_.data();
    n = buf_.size();
  }
  size_t off = 0;
  while (n - off >= 4) {
    uint32_t frame_len = read_be32(p + off);
    if (frame_len < kEthHeaderLen || frame_len > max_frame_) {
      error_ = "guest sent a frame length of " + std::to_string(frame_len) + " (allowed " +
               std::to_string(kEthHeaderLen) + ".." + std::to_string(max_frame_) + ")";
      buf_.clear();
      return Error(ErrorCode::kProtocol, error_);
    }
    if (n - off - 4 < frame_len) break;
    on_frame(reinterpret_cast<const uint8_t*>(p + off + 4), frame_len);
    off += 4 + frame_len;
  }
  if (p == buf_.data()) {
    buf_.erase(0, off);
  } else {
    buf_.assign(p + off, n - off);
  }
  return {};
}

}  // namespace matchlock::net
