#include <catch2/catch.hpp>

#include "net/sniff/classify.h"
#include "net/sniff/http_request_head.h"

using namespace matchlock::net::sniff;
using Status = HttpHeadParseResult::Status;

namespace {

std::string malformed_reason(const std::string& bytes) {
  auto result = parse_http_request_head(bytes);
  INFO(bytes);
  REQUIRE(result.status == Status::kMalformed);
  return result.error;
}

}  // namespace

TEST_CASE("HTTP request gives the Host header lowercased without port", "[net][sniff][http]") {
  Classification c = classify("GET /x HTTP/1.1\r\nhOsT: Example.COM:8080\r\nAccept: */*\r\n\r\n");
  REQUIRE(c.kind == TrafficKind::kHttp);
  CHECK(c.host == "example.com");
  CHECK(c.http_head.method == "GET");
  CHECK(c.http_head.target == "/x");
  CHECK(c.http_head.headers.size() == 2);
}

TEST_CASE("HTTP Host with an IPv6 literal and port keeps the whole address", "[net][sniff][http]") {
  CHECK(classify("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n").host == "::1");
  CHECK(classify("GET / HTTP/1.1\r\nHost: [2001:db8::5]\r\n\r\n").host == "2001:db8::5");
}

TEST_CASE("absolute-form target gives the host", "[net][sniff][http]") {
  Classification c = classify("GET http://Api.Example.com:81/p?q HTTP/1.1\r\n\r\n");
  REQUIRE(c.kind == TrafficKind::kHttp);
  CHECK(c.host == "api.example.com");
  CHECK(classify("GET http://a.com/ HTTP/1.1\r\nHost: A.com\r\n\r\n").host == "a.com");
}

TEST_CASE("absolute-form target naming another host than Host is refused", "[net][sniff][http]") {
  Classification c = classify("GET http://allowed.com/ HTTP/1.1\r\nHost: evil.com\r\n\r\n");
  CHECK(c.kind == TrafficKind::kMalformedHttp);
  CHECK(c.host.empty());
}

TEST_CASE("HTTP head arriving byte by byte needs more until CRLFCRLF", "[net][sniff][http]") {
  std::string head = "POST /upload HTTP/1.1\r\nHost: a.example\r\nContent-Length: 3\r\n\r\n";
  for (size_t n = 1; n < head.size(); ++n) {
    INFO("prefix " << n);
    REQUIRE(classify(head.substr(0, n)).kind == TrafficKind::kNeedMore);
  }
  Classification c = classify(head + "abc");
  CHECK(c.kind == TrafficKind::kHttp);
  CHECK(c.http_head.head_size == head.size());
  CHECK(c.http_head.body_framing == HttpBodyFraming::kContentLength);
  CHECK(c.http_head.content_length == 3);
}

TEST_CASE("non-HTTP first bytes are raw as early as possible", "[net][sniff][http]") {
  CHECK(classify("SSH-2.0-OpenSSH_9.2\r\n").kind == TrafficKind::kRaw);
  CHECK(classify("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").kind == TrafficKind::kRaw);
  CHECK(classify("GET / HTTP/2\r\n").kind == TrafficKind::kRaw);
  CHECK(classify("GET  / HTTP/1.1\r\n").kind == TrafficKind::kRaw);
  CHECK(classify("GET / XTTP").kind == TrafficKind::kRaw);
  CHECK(classify(std::string("\x00\x01\x02", 3)).kind == TrafficKind::kRaw);
  CHECK(classify("G\nET").kind == TrafficKind::kRaw);
  CHECK(classify(std::string(40, 'A')).kind == TrafficKind::kRaw);  // method too long
}

TEST_CASE("a plausible request line prefix waits for more bytes", "[net][sniff][http]") {
  for (const char* prefix : {"G", "GET", "GET ", "GET /", "GET / ", "GET / HTTP/1",
                             "GET / HTTP/1.1", "GET / HTTP/1.1\r", "GET / HTTP/1.1\r\nHost: a"}) {
    INFO(prefix);
    CHECK(classify(prefix).kind == TrafficKind::kNeedMore);
  }
}

TEST_CASE("HTTP/1.0 without Host is HTTP with an empty host", "[net][sniff][http]") {
  Classification c = classify("GET / HTTP/1.0\r\n\r\n");
  CHECK(c.kind == TrafficKind::kHttp);
  CHECK(c.host.empty());
}

TEST_CASE("ambiguous HTTP heads are refused as malformed", "[net][sniff][http]") {
  CHECK(malformed_reason("GET / HTTP/1.1\r\n\r\n") == "missing Host header");
  CHECK(malformed_reason("GET / HTTP/1.1\r\nHost: a.com\r\nHost: b.com\r\n\r\n") ==
        "more than one Host header");
  malformed_reason("GET / HTTP/1.1\r\nHost : a.com\r\n\r\n");
  malformed_reason("GET / HTTP/1.1\r\nHost: a.com\r\n folded\r\n\r\n");
  malformed_reason("GET / HTTP/1.1\r\nHost: a.com\nX: y\r\n\r\n");
  malformed_reason("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n");
  malformed_reason(
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
      "Transfer-Encoding: chunked\r\n\r\n");
  malformed_reason("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
  malformed_reason("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
  malformed_reason("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n");
  malformed_reason("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999\r\n\r\n");
  malformed_reason("GET / HTTP/1.1\r\nHost: user@a.com\r\n\r\n");
  malformed_reason(
      "GET / HTTP/1.1\r\nHost: a.com\r\nX: a\x01"
      "b\r\n\r\n");
  malformed_reason("CONNECT a.com:443 HTTP/1.1\r\nHost: a.com:443\r\n\r\n");
  malformed_reason("GET a.com HTTP/1.1\r\nHost: a.com\r\n\r\n");
  malformed_reason("GET http://u@evil.com/ HTTP/1.1\r\n\r\n");
  CHECK(classify("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").kind ==
        TrafficKind::kMalformedHttp);
}

TEST_CASE("HTTP head larger than 32 KiB is malformed, not buffered forever", "[net][sniff][http]") {
  std::string head = "GET / HTTP/1.1\r\nHost: a.com\r\nX: " + std::string(kMaxHttpHeadBytes, 'x');
  Classification c = classify(head);
  CHECK(c.kind == TrafficKind::kMalformedHttp);
  std::string long_target = "GET /" + std::string(kMaxHttpHeadBytes, 'x');
  CHECK(classify(long_target).kind == TrafficKind::kMalformedHttp);
}

TEST_CASE("chunked and upgrade requests are recognised", "[net][sniff][http]") {
  auto chunked =
      parse_http_request_head("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n");
  REQUIRE(chunked.status == Status::kComplete);
  CHECK(chunked.head.body_framing == HttpBodyFraming::kChunked);
  auto upgrade = parse_http_request_head(
      "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  REQUIRE(upgrade.status == Status::kComplete);
  CHECK(upgrade.head.upgrade);
}

TEST_CASE("OPTIONS asterisk-form is accepted", "[net][sniff][http]") {
  CHECK(classify("OPTIONS * HTTP/1.1\r\nHost: a.com\r\n\r\n").kind == TrafficKind::kHttp);
}
