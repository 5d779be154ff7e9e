#include "guest_protocol/frame_codec.h"

#include <cstring>

namespace matchlock::guest_protocol {
namespace {

void put_u32(std::string& out, uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  out.append(b, 4);
}

uint32_t get_u32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}

bool valid_fd(uint8_t fd) {
  return fd <= kStderr;
}

}  // namespace

bool is_known_frame_type(uint8_t type) {
  switch (static_cast<FrameType>(type)) {
    case FrameType::kHello:
    case FrameType::kConfig:
    case FrameType::kReady:
    case FrameType::kError:
    case FrameType::kPing:
    case FrameType::kPong:
    case FrameType::kShutdown:
    case FrameType::kExecOpen:
    case FrameType::kExecStarted:
    case FrameType::kData:
    case FrameType::kEof:
    case FrameType::kCredit:
    case FrameType::kResize:
    case FrameType::kSignal:
    case FrameType::kCancel:
    case FrameType::kExit:
    case FrameType::kPortOpen:
    case FrameType::kPortOpened:
    case FrameType::kPortClose:
    case FrameType::kPortClosed:
    case FrameType::kFileRead:
    case FrameType::kFileWrite:
    case FrameType::kFileList:
    case FrameType::kFileInfo:
    case FrameType::kFileListing:
    case FrameType::kFileDone:
    case FrameType::kFileStat:
    case FrameType::kFileMkdir:
    case FrameType::kFileRemove:
    case FrameType::kFileRename:
      return true;
  }
  return false;
}

const char* frame_type_name(FrameType type) {
  switch (type) {
    case FrameType::kHello:
      return "HELLO";
    case FrameType::kConfig:
      return "CONFIG";
    case FrameType::kReady:
      return "READY";
    case FrameType::kError:
      return "ERROR";
    case FrameType::kPing:
      return "PING";
    case FrameType::kPong:
      return "PONG";
    case FrameType::kShutdown:
      return "SHUTDOWN";
    case FrameType::kExecOpen:
      return "EXEC_OPEN";
    case FrameType::kExecStarted:
      return "EXEC_STARTED";
    case FrameType::kData:
      return "DATA";
    case FrameType::kEof:
      return "EOF";
    case FrameType::kCredit:
      return "CREDIT";
    case FrameType::kResize:
      return "RESIZE";
    case FrameType::kSignal:
      return "SIGNAL";
    case FrameType::kCancel:
      return "CANCEL";
    case FrameType::kExit:
      return "EXIT";
    case FrameType::kPortOpen:
      return "PORT_OPEN";
    case FrameType::kPortOpened:
      return "PORT_OPENED";
    case FrameType::kPortClose:
      return "PORT_CLOSE";
    case FrameType::kPortClosed:
      return "PORT_CLOSED";
    case FrameType::kFileRead:
      return "FILE_READ";
    case FrameType::kFileWrite:
      return "FILE_WRITE";
    case FrameType::kFileList:
      return "FILE_LIST";
    case FrameType::kFileInfo:
      return "FILE_INFO";
    case FrameType::kFileListing:
      return "FILE_LISTING";
    case FrameType::kFileDone:
      return "FILE_DONE";
    case FrameType::kFileStat:
      return "FILE_STAT";
    case FrameType::kFileMkdir:
      return "FILE_MKDIR";
    case FrameType::kFileRemove:
      return "FILE_REMOVE";
    case FrameType::kFileRename:
      return "FILE_RENAME";
  }
  return "UNKNOWN";
}

void encode_frame(FrameType type, uint32_t stream, std::string_view payload, std::string& out) {
  out.push_back(static_cast<char>(type));
  put_u32(out, stream);
  put_u32(out, static_cast<uint32_t>(payload.size()));
  out.append(payload);
}

std::string encode_frame(FrameType type, uint32_t stream, std::string_view payload) {
  std::string out;
  out.reserve(kFrameHeaderSize + payload.size());
  encode_frame(type, stream, payload, out);
  return out;
}

std::string data_payload(StreamFd fd, std::string_view bytes) {
  std::string p;
  p.reserve(1 + bytes.size());
  p.push_back(static_cast<char>(fd));
  p.append(bytes);
  return p;
}

std::string fd_payload(StreamFd fd) {
  return std::string(1, static_cast<char>(fd));
}

std::string credit_payload(StreamFd fd, uint32_t bytes) {
  std::string p(1, static_cast<char>(fd));
  put_u32(p, bytes);
  return p;
}

std::string u32_payload(uint32_t value) {
  std::string p;
  put_u32(p, value);
  return p;
}

std::string i32_payload(int32_t value) {
  return u32_payload(static_cast<uint32_t>(value));
}

std::string resize_payload(uint16_t rows, uint16_t cols) {
  return {static_cast<char>(rows >> 8), static_cast<char>(rows), static_cast<char>(cols >> 8),
          static_cast<char>(cols)};
}

std::optional<DataView> parse_data(std::string_view payload) {
  if (payload.empty() || !valid_fd(static_cast<uint8_t>(payload[0]))) return std::nullopt;
  return DataView{static_cast<StreamFd>(payload[0]), payload.substr(1)};
}

std::optional<StreamFd> parse_fd(std::string_view payload) {
  if (payload.size() != 1 || !valid_fd(static_cast<uint8_t>(payload[0]))) return std::nullopt;
  return static_cast<StreamFd>(payload[0]);
}

std::optional<CreditView> parse_credit(std::string_view payload) {
  if (payload.size() != 5 || !valid_fd(static_cast<uint8_t>(payload[0]))) return std::nullopt;
  return CreditView{static_cast<StreamFd>(payload[0]), get_u32(payload.data() + 1)};
}

std::optional<uint32_t> parse_u32(std::string_view payload) {
  if (payload.size() != 4) return std::nullopt;
  return get_u32(payload.data());
}

std::optional<int32_t> parse_i32(std::string_view payload) {
  auto v = parse_u32(payload);
  if (!v) return std::nullopt;
  return static_cast<int32_t>(*v);
}

std::optional<ResizeView> parse_resize(std::string_view payload) {
  if (payload.size() != 4) return std::nullopt;
  const auto* u = reinterpret_cast<const unsigned char*>(payload.data());
  return ResizeView{static_cast<uint16_t>((u[0] << 8) | u[1]),
                    static_cast<uint16_t>((u[2] << 8) | u[3])};
}

void FrameDecoder::feed(std::string_view bytes) {
  if (failed()) return;
  // Compact consumed bytes before growing, so a long session does not keep old data alive.
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 64 * 1024) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

std::optional<Frame> FrameDecoder::next() {
  if (failed() || buffered() < kFrameHeaderSize) return std::nullopt;
  const char* h = buf_.data() + pos_;
  uint8_t type = static_cast<uint8_t>(h[0]);
  uint32_t len = get_u32(h + 5);
  if (!is_known_frame_type(type)) {
    error_ = "unknown frame type " + std::to_string(type);
    return std::nullopt;
  }
  if (len > max_payload_) {
    error_ = "frame payload of " + std::to_string(len) + " bytes exceeds the limit of " +
             std::to_string(max_payload_);
    return std::nullopt;
  }
  if (buffered() < kFrameHeaderSize + len) return std::nullopt;
  Frame f;
  f.type = static_cast<FrameType>(type);
  f.stream = get_u32(h + 1);
  f.payload.assign(h + kFrameHeaderSize, len);
  pos_ += kFrameHeaderSize + len;
  return f;
}

}  // namespace matchlock::guest_protocol
