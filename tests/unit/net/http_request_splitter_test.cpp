#include "net/sniff/http_request_splitter.h"

#include <catch2/catch.hpp>

using namespace matchlock::net::sniff;
using Kind = HttpStreamEvent::Kind;

namespace {

// What a relay would see: hosts of each request, body bytes per request, in order.
struct Transcript {
  std::vector<std::string> hosts;
  std::vector<std::string> bodies;  // body framing bytes as forwarded, per request
  std::string opaque;
  int ends = 0;
  std::string forwarded;  // everything, in order
};

void record_events(Transcript& t, const std::vector<HttpStreamEvent>& events) {
  for (const auto& e : events) {
    switch (e.kind) {
      case Kind::kRequestHead:
        t.hosts.push_back(e.head.host);
        t.bodies.emplace_back();
        t.forwarded += e.raw_head;
        break;
      case Kind::kBodyBytes:
        t.bodies.back() += std::string(e.bytes);
        t.forwarded += std::string(e.bytes);
        break;
      case Kind::kRequestEnd:
        ++t.ends;
        break;
      case Kind::kOpaqueBytes:
        t.opaque += std::string(e.bytes);
        t.forwarded += std::string(e.bytes);
        break;
    }
  }
}

// Feeds `stream` in pieces of `piece` bytes; fails the test on error.
Transcript split(const std::string& stream, size_t piece) {
  HttpRequestSplitter splitter;
  Transcript t;
  for (size_t pos = 0; pos < stream.size(); pos += piece) {
    auto events = splitter.feed(std::string_view(stream).substr(pos, piece));
    REQUIRE(events.ok());
    record_events(t, *events);
  }
  return t;
}

bool stream_fails(const std::string& stream) {
  HttpRequestSplitter splitter;
  return !splitter.feed(stream).ok();
}

}  // namespace

TEST_CASE("keep-alive connection with two requests to different hosts yields both hosts",
          "[net][sniff][http_splitter]") {
  std::string first = "POST /a HTTP/1.1\r\nHost: one.example\r\nContent-Length: 5\r\n\r\nhello";
  std::string second = "GET /b HTTP/1.1\r\nHost: two.example\r\n\r\n";
  std::string stream = first + second;
  for (size_t piece : {1u, 2u, 7u, 64u, 4096u}) {
    INFO("piece " << piece);
    Transcript t = split(stream, piece);
    CHECK(t.hosts == std::vector<std::string>{"one.example", "two.example"});
    CHECK(t.bodies == std::vector<std::string>{"hello", ""});
    CHECK(t.ends == 2);
    CHECK(t.forwarded == stream);
  }
}

TEST_CASE("chunked body is framed exactly and the next request follows",
          "[net][sniff][http_splitter]") {
  std::string body = "5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n";
  std::string stream = "POST / HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n" +
                       body + "GET / HTTP/1.1\r\nHost: b.example\r\n\r\n";
  for (size_t piece : {1u, 3u, 10u, 4096u}) {
    INFO("piece " << piece);
    Transcript t = split(stream, piece);
    CHECK(t.hosts == std::vector<std::string>{"a.example", "b.example"});
    CHECK(t.bodies[0] == body);
    CHECK(t.ends == 2);
    CHECK(t.forwarded == stream);
  }
}

TEST_CASE("a smuggled request inside a chunk is body, not a request",
          "[net][sniff][http_splitter]") {
  std::string inner = "GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n";
  char size[8];
  snprintf(size, sizeof size, "%zx", inner.size());
  std::string stream =
      "POST / HTTP/1.1\r\nHost: good.example\r\nTransfer-Encoding: chunked\r\n\r\n" +
      std::string(size) + "\r\n" + inner + "\r\n0\r\n\r\n";
  Transcript t = split(stream, 5);
  CHECK(t.hosts == std::vector<std::string>{"good.example"});
}

TEST_CASE("bad chunk framing fails the stream", "[net][sniff][http_splitter]") {
  std::string head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  CHECK(stream_fails(head + "zz\r\n"));
  CHECK(stream_fails(head + "5\r\nhelloXX"));
  CHECK(stream_fails(head + "5\nhello\r\n"));
  CHECK(stream_fails(head + "fffffffffffffff\r\n"));
  CHECK(stream_fails(head + "5 x\r\n"));
  CHECK(stream_fails(head + "0\r\nbad trailer\r\n"));
  CHECK(stream_fails(head + std::string(kMaxChunkLineBytes + 1, '1')));
}

TEST_CASE("malformed or non-HTTP requests fail the stream and stay failed",
          "[net][sniff][http_splitter]") {
  HttpRequestSplitter splitter;
  REQUIRE(splitter.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n").ok());
  CHECK_FALSE(splitter.feed("\x16\x03\x01").ok());
  CHECK_FALSE(splitter.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n").ok());
  CHECK(stream_fails("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"));
  CHECK(stream_fails("GET / HTTP/1.1\r\nX: " + std::string(kMaxHttpHeadBytes, 'x')));
}

TEST_CASE("a large Content-Length body is counted, not buffered", "[net][sniff][http_splitter]") {
  HttpRequestSplitter splitter;
  auto events = splitter.feed("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000\r\n\r\n");
  REQUIRE(events.ok());
  CHECK(events->size() == 1);
  std::string block(65536, 'z');
  auto more = splitter.feed(block);
  REQUIRE(more.ok());
  REQUIRE(more->size() == 1);
  CHECK((*more)[0].bytes.size() == block.size());
  CHECK((*more)[0].bytes.data() == block.data());  // a view into the input, no copy
  CHECK_FALSE(splitter.at_request_boundary());
}

TEST_CASE("after an upgrade request the rest of the stream is opaque",
          "[net][sniff][http_splitter]") {
  std::string stream =
      "GET /ws HTTP/1.1\r\nHost: ws.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
      "\x81\x05hello GET / HTTP/1.1\r\nHost: evil\r\n\r\n";
  Transcript t = split(stream, 9);
  CHECK(t.hosts == std::vector<std::string>{"ws.example"});
  CHECK(t.opaque.find("evil") != std::string::npos);
}

TEST_CASE("pipelined requests in one read are all reported", "[net][sniff][http_splitter]") {
  std::string stream;
  for (int i = 0; i < 10; ++i) {
    stream += "GET / HTTP/1.1\r\nHost: h" + std::to_string(i) + ".example\r\n\r\n";
  }
  Transcript t = split(stream, stream.size());
  REQUIRE(t.hosts.size() == 10);
  CHECK(t.hosts[9] == "h9.example");
  HttpRequestSplitter splitter;
  REQUIRE(splitter.feed(stream).ok());
  CHECK(splitter.at_request_boundary());
}

// Found by fuzz/http_request_splitter_fuzzer: when the request line's CRLF was split across two
// reads, the line counted as checked already and a bad one was held instead of refused.
TEST_CASE("a request line completed by a split CRLF is checked at once",
          "[net][sniff][http_splitter]") {
  const std::string bad_line = "POST /HTTP/1.1\r\nHost: a.example\r\n";
  HttpRequestSplitter whole;
  CHECK_FALSE(whole.feed(bad_line).ok());

  HttpRequestSplitter split;
  REQUIRE(split.feed("POST /HTTP/1.1\r").ok());  // a valid prefix so far
  CHECK_FALSE(split.feed("\nHost: a.example\r\n").ok());

  // A good line split the same way still goes through.
  HttpRequestSplitter good;
  REQUIRE(good.feed("GET / HTTP/1.1\r").ok());
  REQUIRE(good.feed("\nHost: a.example\r\n").ok());
  auto events = good.feed("\r\n");
  REQUIRE(events.ok());
  REQUIRE(events->size() == 2);
  CHECK((*events)[0].head.host == "a.example");
  CHECK((*events)[1].kind == Kind::kRequestEnd);
}
