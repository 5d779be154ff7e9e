// Encoding and incremental decoding of channel frames (see protocol.h).
// Shared by the engine and matchlock-guest; depends only on the standard library.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "guest_protocol/protocol.h"

namespace matchlock::guest_protocol {

struct Frame {
  FrameType type = FrameType::kPing;
  uint32_t stream = 0;
  std::string payload;  // raw bytes
};

// Appends one encoded frame to `out`. The caller keeps payloads within kMaxFramePayload.
void encode_frame(FrameType type, uint32_t stream, std::string_view payload, std::string& out);
std::string encode_frame(FrameType type, uint32_t stream, std::string_view payload);

// Payload helpers for the binary frame bodies.
std::string data_payload(StreamFd fd, std::string_view bytes);
std::string fd_payload(StreamFd fd);  // EOF
std::string credit_payload(StreamFd fd, uint32_t bytes);
std::string u32_payload(uint32_t value);  // CANCEL, SHUTDOWN
std::string i32_payload(int32_t value);   // EXIT
std::string resize_payload(uint16_t rows, uint16_t cols);

// Parsers for those bodies: nullopt when the payload has the wrong size or an unknown fd.
struct DataView {
  StreamFd fd;
  std::string_view bytes;
};
std::optional<DataView> parse_data(std::string_view payload);
std::optional<StreamFd> parse_fd(std::string_view payload);
struct CreditView {
  StreamFd fd;
  uint32_t bytes;
};
std::optional<CreditView> parse_credit(std::string_view payload);
std::optional<uint32_t> parse_u32(std::string_view payload);
std::optional<int32_t> parse_i32(std::string_view payload);
struct ResizeView {
  uint16_t rows;
  uint16_t cols;
};
std::optional<ResizeView> parse_resize(std::string_view payload);

// Incremental decoder: feed bytes as they arrive, pop whole frames. Never allocates more than
// the header-declared length, and rejects a header before allocating if it is oversized or has
// an unknown type. Once failed() it stays failed: the channel must be closed.
class FrameDecoder {
 public:
  explicit FrameDecoder(uint32_t max_payload = kMaxFramePayload) : max_payload_(max_payload) {}

  void feed(std::string_view bytes);
  // Next complete frame, or nullopt when more bytes are needed or the stream failed.
  std::optional<Frame> next();

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  uint32_t max_payload_;
  std::string buf_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace matchlock::guest_protocol
