#include "net/sniff/classify.h"

namespace matchlock::net::sniff {
namespace {

constexpr unsigned char kTlsHandshakeRecord = 0x16;

}  // namespace

Classification classify(std::string_view first_bytes) {
  Classification out;
  if (first_bytes.empty()) return out;

  if (static_cast<unsigned char>(first_bytes[0]) == kTlsHandshakeRecord) {
    TlsClientHelloResult tls = parse_tls_client_hello(first_bytes);
    switch (tls.status) {
      case TlsClientHelloResult::Status::kNeedMore:
        return out;
      case TlsClientHelloResult::Status::kClientHello:
        out.kind = TrafficKind::kTls;
        out.host = std::move(tls.server_name);
        return out;
      case TlsClientHelloResult::Status::kTooLarge:
        out.kind = TrafficKind::kTls;  // no SNI we could read: the gate decides by address
        return out;
      case TlsClientHelloResult::Status::kNotTls:
        out.kind = TrafficKind::kRaw;
        return out;
    }
  }

  HttpHeadParseResult http = parse_http_request_head(first_bytes);
  switch (http.status) {
    case HttpHeadParseResult::Status::kNeedMore:
      return out;
    case HttpHeadParseResult::Status::kComplete:
      out.kind = TrafficKind::kHttp;
      out.host = http.head.host;
      out.http_head = std::move(http.head);
      return out;
    case HttpHeadParseResult::Status::kMalformed:
      out.kind = TrafficKind::kMalformedHttp;
      out.reason = std::move(http.error);
      return out;
    case HttpHeadParseResult::Status::kNotHttp:
      break;
  }
  out.kind = TrafficKind::kRaw;
  return out;
}

}  // namespace matchlock::net::sniff
