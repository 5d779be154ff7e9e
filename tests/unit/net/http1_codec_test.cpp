// The HTTP/1.1 codec: requests (keep-alive, pipelining, chunked bodies, smuggling refusals,
// bounded heads), responses (HEAD, 204/304, close-delimited, interim 1xx, 101) and writing.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "net/http1/request_reader.h"
#include "net/http1/response_reader.h"
#include "net/http1/serializer.h"

using namespace matchlock::net::http1;
using Kind = RequestEvent::Kind;

namespace {

// Every event the reader gives for `input`, fed in pieces of `step` bytes.
std::vector<RequestEvent> read_requests(RequestReader& r, const std::string& input,
                                        size_t step = 0) {
  std::vector<RequestEvent> out;
  if (step == 0) step = input.size();
  for (size_t at = 0; at < input.size(); at += step) {
    r.append(std::string_view(input).substr(at, step));
    while (auto e = r.next()) out.push_back(std::move(*e));
  }
  return out;
}

std::string body_of(const std::vector<RequestEvent>& events) {
  std::string body;
  for (const auto& e : events)
    if (e.kind == Kind::kBody) body += e.body;
  return body;
}

int refusal(const std::string& input) {
  RequestReader r;
  read_requests(r, input);
  return r.error() ? r.error()->status : 0;
}

std::vector<ResponseEvent> read_responses(ResponseReader& r, const std::string& input,
                                          bool eof = false) {
  std::vector<ResponseEvent> out;
  r.append(input);
  if (eof) r.finish();
  while (auto e = r.next()) out.push_back(std::move(*e));
  return out;
}

}  // namespace

TEST_CASE("request reader: pipelined keep-alive requests, byte by byte too", "[net][http1]") {
  std::string input =
      "GET http://Example.COM:8080/a?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"
      "POST /b HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello"
      "PUT /c HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n";
  for (size_t step : {size_t{0}, size_t{1}, size_t{7}}) {
    RequestReader r;
    auto events = read_requests(r, input, step);
    REQUIRE(!r.error());
    std::vector<RequestEvent> heads;
    int ends = 0;
    for (auto& e : events) {
      if (e.kind == Kind::kHead) heads.push_back(e);
      if (e.kind == Kind::kEnd) ++ends;
    }
    REQUIRE(heads.size() == 3);
    CHECK(ends == 3);
    CHECK(heads[0].head.target == "/a?x=1");  // absolute form reduced to origin form
    CHECK(heads[0].head.host == "example.com");
    CHECK(heads[0].head.keep_alive);
    CHECK(heads[1].head.framing == BodyFraming::kContentLength);
    CHECK(heads[2].head.framing == BodyFraming::kChunked);
    CHECK(body_of(events) == "helloabcde");
    CHECK(r.idle());
  }
}

TEST_CASE("request reader: Expect, Upgrade and Connection: close are noticed", "[net][http1]") {
  RequestReader r;
  auto events =
      read_requests(r,
                    "POST /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n"
                    "Connection: close\r\n\r\n");
  REQUIRE(events.size() == 1);
  CHECK(events[0].head.expect_continue);
  CHECK(!events[0].head.keep_alive);

  RequestReader ws;
  auto up = read_requests(ws,
                          "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\n\r\n\x81\x02hi");
  REQUIRE(up.size() == 2);
  CHECK(up[0].head.upgrade);
  CHECK(up[1].kind == Kind::kEnd);
  CHECK(!ws.next());
  CHECK(ws.take_opaque() == "\x81\x02hi");
}

TEST_CASE("request reader refuses smuggling and oversized heads", "[net][http1]") {
  const std::string h = "POST / HTTP/1.1\r\nHost: h\r\n";
  CHECK(refusal(h + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n") == 400);
  CHECK(refusal(h + "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc") == 400);
  CHECK(refusal(h + "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabc") == 400);
  CHECK(refusal(h + "Transfer-Encoding: gzip, chunked\r\n\r\n") == 400);
  CHECK(refusal(h + "Transfer-Encoding: chunked, identity\r\n\r\n") == 400);
  CHECK(refusal(h + "X-A: 1\r\n folded\r\n\r\n") == 400);
  CHECK(refusal("GET / HTTP/1.1\nHost: h\n\n") == 400);
  CHECK(refusal(h + "Transfer-Encoding: chunked\r\n\r\nzz\r\n") == 400);  // bad chunk size
  CHECK(refusal("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n") == 400);
  CHECK(refusal("\x16\x03\x01garbage\r\n\r\n") == 400);
  CHECK(refusal("GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(70000, 'a')) == 431);
}

TEST_CASE("response reader: HEAD, 204, 304 and content-length bodies", "[net][http1]") {
  ResponseReader r;
  r.expect_response_to("HEAD");
  auto head = read_responses(r, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
  REQUIRE(head.size() == 2);
  CHECK(head[1].kind == ResponseEvent::Kind::kEnd);
  r.expect_response_to("GET");
  auto nc = read_responses(r, "HTTP/1.1 204 No Content\r\n\r\n");
  REQUIRE(nc.size() == 2);
  CHECK(nc[0].head.framing == BodyFraming::kNone);
  r.expect_response_to("GET");
  auto nm = read_responses(r, "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n");
  REQUIRE(nm.size() == 2);
  r.expect_response_to("GET");
  auto ok = read_responses(r, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
  REQUIRE(ok.size() == 3);
  CHECK(ok[0].head.content_length == 3);
  CHECK(ok[1].body == "abc");
}

TEST_CASE("response reader: interim 100, chunked and close-delimited bodies", "[net][http1]") {
  ResponseReader r;
  r.expect_response_to("POST");
  auto events = read_responses(
      r,
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\ndata\r\n0\r\n\r\n");
  REQUIRE(events.size() == 4);
  CHECK(events[0].head.interim);
  CHECK(events[1].head.status == 200);
  CHECK(events[1].head.framing == BodyFraming::kChunked);
  CHECK(events[2].body == "data");
  CHECK(events[3].kind == ResponseEvent::Kind::kEnd);

  ResponseReader until_close;
  until_close.expect_response_to("GET");
  auto open = read_responses(until_close, "HTTP/1.1 200 OK\r\n\r\nstream");
  REQUIRE(open.size() == 2);
  CHECK(open[0].head.framing == BodyFraming::kUntilClose);
  auto closed = read_responses(until_close, "", /*eof=*/true);
  REQUIRE(closed.size() == 1);
  CHECK(closed[0].kind == ResponseEvent::Kind::kEnd);

  ResponseReader truncated;
  truncated.expect_response_to("GET");
  read_responses(truncated, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", true);
  CHECK(truncated.error());
}

TEST_CASE("response reader: 101 leaves the rest raw", "[net][http1]") {
  ResponseReader r;
  r.expect_response_to("GET");
  auto events = read_responses(r,
                               "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\n\r\n\x81\x01x");
  REQUIRE(events.size() == 1);
  CHECK(events[0].head.status == 101);
  CHECK(r.take_opaque() == "\x81\x01x");
}

TEST_CASE("serializer writes heads and chunks, refuses injected lines", "[net][http1]") {
  std::vector<matchlock::net::policy::HeaderField> headers = {{"Host", "h"},
                                                              {"Connection", "keep-alive, X-Hop"},
                                                              {"X-Hop", "1"},
                                                              {"Transfer-Encoding", "chunked"},
                                                              {"Authorization", "Bearer t"}};
  auto kept = end_to_end_headers(headers);
  REQUIRE(kept.size() == 2);
  auto head = serialize_request_head("GET", "/p", kept);
  REQUIRE(head.ok());
  CHECK(*head == "GET /p HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer t\r\n\r\n");
  CHECK(!serialize_request_head("GET", "/p", {{"X", "a\r\nEvil: 1"}}).ok());
  CHECK(!serialize_request_head("GET", "/p q", {}).ok());
  CHECK(!serialize_response_head(200, "OK", {{"Bad Name", "v"}}).ok());
  CHECK(chunk("abc") == "3\r\nabc\r\n");
  CHECK(chunk("").empty());
  CHECK(plain_text_response(403, "no\n").find("Connection: close\r\n") != std::string::npos);
}
