#include "net/sniff/tls_client_hello.h"

#include <cstdint>

#include "net/policy/host_name.h"

namespace matchlock::net::sniff {
namespace {

using Status = TlsClientHelloResult::Status;

constexpr uint8_t kRecordTypeHandshake = 0x16;
constexpr uint8_t kHandshakeTypeClientHello = 0x01;
constexpr size_t kHandshakeHeaderSize = 4;
constexpr uint16_t kExtensionServerName = 0x0000;
constexpr uint8_t kServerNameTypeHostName = 0x00;
constexpr size_t kRandomSize = 32;
constexpr size_t kMaxSessionIdSize = 32;

// Bounds-checked big-endian reader over a byte span; any overrun sets `failed` and returns 0.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  bool failed() const { return failed_; }
  size_t remaining() const { return failed_ ? 0 : bytes_.size() - pos_; }

  uint32_t u8() { return take(1) ? static_cast<uint8_t>(bytes_[pos_ - 1]) : 0; }
  uint32_t u16() {
    if (!take(2)) return 0;
    return (byte(pos_ - 2) << 8) | byte(pos_ - 1);
  }
  uint32_t u24() {
    if (!take(3)) return 0;
    return (byte(pos_ - 3) << 16) | (byte(pos_ - 2) << 8) | byte(pos_ - 1);
  }
  std::string_view bytes(size_t n) {
    if (!take(n)) return {};
    return bytes_.substr(pos_ - n, n);
  }

 private:
  uint32_t byte(size_t i) const { return static_cast<uint8_t>(bytes_[i]); }
  bool take(size_t n) {
    if (failed_ || n > bytes_.size() - pos_) {
      failed_ = true;
      return false;
    }
    pos_ += n;
    return true;
  }

  std::string_view bytes_;
  size_t pos_ = 0;
  bool failed_ = false;
};

// Extracts host_name from a server_name extension body. Returns false when malformed.
bool read_server_name(std::string_view body, std::string& out) {
  Reader reader(body);
  uint32_t list_length = reader.u16();
  std::string_view list = reader.bytes(list_length);
  if (reader.failed() || reader.remaining() != 0 || list.empty()) return false;
  Reader entries(list);
  while (entries.remaining() > 0) {
    uint32_t type = entries.u8();
    uint32_t length = entries.u16();
    std::string_view name = entries.bytes(length);
    if (entries.failed()) return false;
    if (type != kServerNameTypeHostName || !out.empty()) continue;  // first host_name wins
    std::string normalized = policy::normalize_host_name(name);
    // RFC 6066: no IP literals in SNI, and a name must be a valid DNS name.
    if (!policy::is_valid_host_name(normalized) || name.find('\0') != std::string_view::npos) {
      return false;
    }
    out = std::move(normalized);
  }
  return !out.empty();
}

// Parses a complete ClientHello handshake body.
TlsClientHelloResult parse_hello_body(std::string_view body) {
  TlsClientHelloResult result;
  Reader reader(body);
  uint32_t legacy_version = reader.u16();
  reader.bytes(kRandomSize);
  uint32_t session_id_length = reader.u8();
  if (session_id_length > kMaxSessionIdSize) return result;
  reader.bytes(session_id_length);
  uint32_t cipher_suites_length = reader.u16();
  if (cipher_suites_length < 2 || cipher_suites_length % 2 != 0) return result;
  reader.bytes(cipher_suites_length);
  uint32_t compression_length = reader.u8();
  if (compression_length < 1) return result;
  reader.bytes(compression_length);
  if (reader.failed() || (legacy_version >> 8) != 3) return result;

  result.status = Status::kClientHello;
  if (reader.remaining() == 0) return result;  // no extensions at all (SSLv3-style hello)

  uint32_t extensions_length = reader.u16();
  std::string_view extensions = reader.bytes(extensions_length);
  if (reader.failed()) return {};
  Reader walker(extensions);
  bool seen_server_name = false;
  while (walker.remaining() > 0) {
    uint32_t type = walker.u16();
    uint32_t length = walker.u16();
    std::string_view data = walker.bytes(length);
    if (walker.failed()) return {};
    if (type != kExtensionServerName) continue;
    // Duplicate extensions are illegal (RFC 8446 §4.2) and a classic way to make two parsers
    // disagree on the name.
    if (seen_server_name) return {};
    seen_server_name = true;
    if (!read_server_name(data, result.server_name)) return {};
  }
  return result;
}

}  // namespace

TlsClientHelloResult parse_tls_client_hello(std::string_view bytes) {
  if (bytes.size() > kMaxClientHelloBytes) bytes = bytes.substr(0, kMaxClientHelloBytes);
  bool input_capped = bytes.size() == kMaxClientHelloBytes;

  // Join handshake-record payloads until the handshake message is complete. The joined buffer
  // never exceeds the (capped) input size.
  std::string handshake;
  size_t pos = 0;
  while (true) {
    if (bytes.size() - pos < kTlsRecordHeaderSize) break;
    auto at = [&](size_t i) { return static_cast<uint8_t>(bytes[pos + i]); };
    if (at(0) != kRecordTypeHandshake || at(1) != 3) return {};
    size_t record_length = (static_cast<size_t>(at(3)) << 8) | at(4);
    if (record_length == 0 || record_length > kMaxTlsRecordPayload) return {};
    size_t available = bytes.size() - pos - kTlsRecordHeaderSize;
    size_t take = record_length < available ? record_length : available;
    handshake.append(bytes.substr(pos + kTlsRecordHeaderSize, take));
    if (take < record_length) break;  // record still arriving
    pos += kTlsRecordHeaderSize + record_length;
    if (handshake.size() >= kHandshakeHeaderSize) {
      size_t message_length = (static_cast<size_t>(static_cast<uint8_t>(handshake[1])) << 16) |
                              (static_cast<size_t>(static_cast<uint8_t>(handshake[2])) << 8) |
                              static_cast<uint8_t>(handshake[3]);
      if (handshake.size() >= kHandshakeHeaderSize + message_length) break;
    }
  }

  // Early checks on whatever prefix we have, so non-TLS fails fast.
  if (bytes.empty()) return {Status::kNeedMore, {}};
  if (static_cast<uint8_t>(bytes[0]) != kRecordTypeHandshake) return {};
  if (bytes.size() >= 2 && static_cast<uint8_t>(bytes[1]) != 3) return {};
  if (!handshake.empty() && static_cast<uint8_t>(handshake[0]) != kHandshakeTypeClientHello) {
    return {};
  }
  if (handshake.size() < kHandshakeHeaderSize) {
    return {input_capped ? Status::kTooLarge : Status::kNeedMore, {}};
  }
  size_t message_length = (static_cast<size_t>(static_cast<uint8_t>(handshake[1])) << 16) |
                          (static_cast<size_t>(static_cast<uint8_t>(handshake[2])) << 8) |
                          static_cast<uint8_t>(handshake[3]);
  if (kHandshakeHeaderSize + message_length > kMaxClientHelloBytes) return {Status::kTooLarge, {}};
  if (handshake.size() < kHandshakeHeaderSize + message_length) {
    return {input_capped ? Status::kTooLarge : Status::kNeedMore, {}};
  }
  return parse_hello_body(handshake.substr(kHandshakeHeaderSize, message_length));
}

}  // namespace matchlock::net::sniff
