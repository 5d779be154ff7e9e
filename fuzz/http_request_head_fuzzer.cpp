// The strict HTTP/1.x request head parser (engine/src/net/sniff/http_request_head.cpp) and the
// first-bytes classifier built on it and the ClientHello sniffer (classify.cpp).
// Invariants: a complete head is bounded, ends in CRLFCRLF, names a policy-valid host, and does
// not change when more bytes follow it; every strict prefix of it is "need more"; classify()
// agrees with the parser on the host.
#include <string>

#include "fuzz_check.h"
#include "host_check.h"
#include "net/sniff/classify.h"
#include "net/sniff/http_request_head.h"

namespace sniff = matchlock::net::sniff;
using Status = sniff::HttpHeadParseResult::Status;

namespace {

void check_complete(const sniff::HttpHeadParseResult& r, std::string_view bytes) {
  const sniff::HttpRequestHead& head = r.head;
  FUZZ_CHECK(head.head_size >= 4 && head.head_size <= bytes.size());
  FUZZ_CHECK(head.head_size <= sniff::kMaxHttpHeadBytes);
  FUZZ_CHECK(bytes.substr(head.head_size - 4, 4) == "\r\n\r\n");
  FUZZ_CHECK(!head.method.empty() && head.method.size() <= sniff::kMaxHttpMethodLength);
  FUZZ_CHECK(head.version == "HTTP/1.0" || head.version == "HTTP/1.1");
  FUZZ_CHECK(head.headers.size() <= sniff::kMaxHttpHeaderFields);
  FUZZ_CHECK(!head.host.empty() || head.version == "HTTP/1.0");
  if (!head.host.empty()) matchlock::fuzz::check_policy_host(head.host);
  if (head.body_framing == sniff::HttpBodyFraming::kContentLength) {
    FUZZ_CHECK(head.content_length <= sniff::kMaxHttpContentLength);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes = matchlock::fuzz::as_text(data, size);
  auto result = sniff::parse_http_request_head(bytes);
  if (result.status == Status::kMalformed) FUZZ_CHECK(!result.error.empty());

  if (result.status == Status::kComplete) {
    check_complete(result, bytes);
    size_t head_size = result.head.head_size;
    auto alone = sniff::parse_http_request_head(bytes.substr(0, head_size));
    FUZZ_CHECK(alone.status == Status::kComplete && alone.head.head_size == head_size);
    FUZZ_CHECK(alone.head.host == result.head.host && alone.head.target == result.head.target);
    // Prefixes, sampled so one run stays cheap on long heads.
    for (size_t cut = 0; cut < head_size; cut += 1 + head_size / 64) {
      FUZZ_CHECK(sniff::parse_http_request_head(bytes.substr(0, cut)).status == Status::kNeedMore);
    }
    FUZZ_CHECK(sniff::parse_http_request_head(bytes.substr(0, head_size - 1)).status ==
               Status::kNeedMore);
  }

  auto kind = sniff::classify(bytes);
  if (kind.kind == sniff::TrafficKind::kHttp) {
    FUZZ_CHECK(result.status == Status::kComplete && kind.host == result.head.host);
  }
  if (kind.kind == sniff::TrafficKind::kMalformedHttp) FUZZ_CHECK(!kind.reason.empty());
  if ((kind.kind == sniff::TrafficKind::kTls || kind.kind == sniff::TrafficKind::kHttp) &&
      !kind.host.empty()) {
    matchlock::fuzz::check_policy_host(kind.host);
  }
  return 0;
}
