#include <catch2/catch.hpp>
#include <map>
#include <random>

#include "h2_test_pipe.h"
#include "net/h2/h2_client_session.h"
#include "net/h2/h2_server_session.h"

using namespace matchlock::net::h2;
using matchlock::net::h2::testing::pump;
using matchlock::net::policy::HeaderField;

namespace {

struct ServerSide {
  std::map<StreamId, RequestHead> heads;
  std::map<StreamId, std::string> bodies;
  std::map<StreamId, std::vector<HeaderField>> trailers;
  std::map<StreamId, uint32_t> closed;
  std::vector<StreamId> ended;
  bool auto_consume = true;
  std::unique_ptr<H2ServerSession> session;

  explicit ServerSide(H2Limits limits = {}) {
    session = std::make_unique<H2ServerSession>(
        limits,
        ServerEvents{
            .on_request_head = [this](StreamId s, RequestHead h) { heads[s] = std::move(h); },
            .on_request_data =
                [this](StreamId s, std::string_view d) {
                  bodies[s] += d;
                  if (auto_consume) session->consume(s, d.size());
                },
            .on_request_end =
                [this](StreamId s, std::vector<HeaderField> t) {
                  ended.push_back(s);
                  trailers[s] = std::move(t);
                },
            .on_stream_closed = [this](StreamId s, uint32_t code) { closed[s] = code; },
            .on_response_data_sent = {},
        });
  }
};

struct ClientSide {
  std::map<StreamId, ResponseHead> heads;
  std::map<StreamId, std::string> bodies;
  std::map<StreamId, std::vector<HeaderField>> trailers;
  std::map<StreamId, uint32_t> closed;
  std::vector<StreamId> ended;
  std::unique_ptr<H2ClientSession> session;

  explicit ClientSide(H2Limits limits = {}) {
    session = std::make_unique<H2ClientSession>(
        limits,
        ClientEvents{
            .on_response_head = [this](StreamId s, ResponseHead h) { heads[s] = std::move(h); },
            .on_response_data =
                [this](StreamId s, std::string_view d) {
                  bodies[s] += d;
                  session->consume(s, d.size());
                },
            .on_response_end =
                [this](StreamId s, std::vector<HeaderField> t) {
                  ended.push_back(s);
                  trailers[s] = std::move(t);
                },
            .on_stream_closed = [this](StreamId s, uint32_t code) { closed[s] = code; },
            .on_request_data_sent = {},
        });
  }
};

RequestHead get(std::string path, std::string authority = "Example.COM:443") {
  RequestHead head;
  head.method = "GET";
  head.scheme = "https";
  head.authority = std::move(authority);
  head.path = std::move(path);
  head.headers = {
      {"Accept", "*/*"}, {"Connection", "keep-alive"}, {"cookie", "a=1"}, {"cookie", "b=2"}};
  return head;
}

}  // namespace

TEST_CASE("h2 sessions: a GET reaches the server parsed and its response comes back", "[net][h2]") {
  ServerSide server;
  ClientSide client;
  auto stream = client.session->submit_request(get("/index?q=1"), false);
  REQUIRE(stream.ok());
  REQUIRE(pump(*client.session, *server.session));
  REQUIRE(server.heads.count(*stream) == 1);
  const RequestHead& head = server.heads[*stream];
  CHECK(head.method == "GET");
  CHECK(head.scheme == "https");
  CHECK(head.authority == "Example.COM:443");
  CHECK(head.host == "example.com");
  CHECK(head.path == "/index?q=1");
  // Names lowercased, the hop-by-hop field gone, cookies joined into one field.
  REQUIRE(head.headers.size() == 2);
  CHECK(head.headers[0].name == "accept");
  CHECK(head.headers[1].name == "cookie");
  CHECK(head.headers[1].value == "a=1; b=2");
  CHECK(server.ended == std::vector<StreamId>{*stream});

  REQUIRE(
      server.session->submit_response(*stream, {200, {{"Content-Type", "text/plain"}}}, true).ok());
  REQUIRE(server.session->queue_data(*stream, "hello ").ok());
  REQUIRE(pump(*client.session, *server.session));
  CHECK(client.heads[*stream].status == 200);
  CHECK(client.heads[*stream].headers[0].name == "content-type");
  CHECK(client.bodies[*stream] == "hello ");
  CHECK(client.ended.empty());  // streamed: the body goes on until finish()
  REQUIRE(server.session->queue_data(*stream, "world").ok());
  REQUIRE(server.session->finish(*stream, {{"grpc-status", "0"}}).ok());
  REQUIRE(pump(*client.session, *server.session));
  CHECK(client.bodies[*stream] == "hello world");
  CHECK(client.trailers[*stream].at(0).value == "0");
  CHECK(client.closed.at(*stream) == 0);
  CHECK(server.closed.at(*stream) == 0);
}

TEST_CASE("h2 sessions: a request body and trailers stream to the server", "[net][h2]") {
  ServerSide server;
  ClientSide client;
  RequestHead post = get("/upload");
  post.method = "POST";
  auto stream = client.session->submit_request(post, true);
  REQUIRE(stream.ok());
  REQUIRE(client.session->queue_data(*stream, std::string(100000, 'x')).ok());
  REQUIRE(pump(*client.session, *server.session));
  CHECK(server.bodies[*stream].size() == 100000);
  CHECK(server.ended.empty());
  REQUIRE(client.session->finish(*stream, {{"x-checksum", "abc"}}).ok());
  REQUIRE(pump(*client.session, *server.session));
  CHECK(server.ended == std::vector<StreamId>{*stream});
  REQUIRE(server.trailers[*stream].size() == 1);
  CHECK(server.trailers[*stream][0].name == "x-checksum");
}

TEST_CASE("h2 sessions: an unconsumed body stops the peer at the stream window", "[net][h2]") {
  H2Limits limits;
  limits.stream_window_bytes = 16 * 1024;
  ServerSide server(limits);
  server.auto_consume = false;
  ClientSide client;
  REQUIRE(pump(*client.session, *server.session));  // SETTINGS first: before them, 64 KiB may come
  auto stream = client.session->submit_request(get("/big"), true);
  REQUIRE(stream.ok());
  REQUIRE(client.session->queue_data(*stream, std::string(200000, 'y')).ok());
  REQUIRE(pump(*client.session, *server.session));
  // The server holds at most one window; the rest waits in the client's queue.
  CHECK(server.bodies[*stream].size() == 16 * 1024);
  CHECK(client.session->queued_bytes(*stream) == 200000 - 16 * 1024);
  server.session->consume(*stream, server.bodies[*stream].size());
  REQUIRE(pump(*client.session, *server.session));
  CHECK(server.bodies[*stream].size() == 32 * 1024);
}

TEST_CASE("h2 sessions: a reset reaches the other side as the stream's close", "[net][h2]") {
  ServerSide server;
  ClientSide client;
  auto stream = client.session->submit_request(get("/sse"), false);
  REQUIRE(stream.ok());
  REQUIRE(pump(*client.session, *server.session));
  REQUIRE(server.session->submit_response(*stream, {200, {}}, true).ok());
  REQUIRE(server.session->queue_data(*stream, "data: 1\n\n").ok());
  REQUIRE(pump(*client.session, *server.session));
  client.session->reset(*stream, H2Error::kCancel);
  REQUIRE(pump(*client.session, *server.session));
  CHECK(server.closed.at(*stream) == static_cast<uint32_t>(H2Error::kCancel));
  CHECK_FALSE(server.session->queue_data(*stream, "data: 2\n\n").ok());
}

TEST_CASE("h2 sessions: streams over the concurrency limit are refused", "[net][h2]") {
  H2Limits limits;
  limits.max_concurrent_streams = 2;
  ServerSide server(limits);
  ClientSide client;
  REQUIRE(pump(*client.session, *server.session));  // the client learns the limit
  for (int i = 0; i < 5; ++i) REQUIRE(client.session->submit_request(get("/"), false).ok());
  REQUIRE(pump(*client.session, *server.session));
  CHECK(server.heads.size() == 2);  // the others wait in the client until a slot frees
}

TEST_CASE("h2 server session: streams past the limit are refused, not tracked", "[net][h2]") {
  H2Limits limits;
  limits.max_concurrent_streams = 10;
  ServerSide server(limits);
  ClientSide client;  // not pumped first: the client sends before it has heard the limit
  for (int i = 0; i < 50; ++i) REQUIRE(client.session->submit_request(get("/"), false).ok());
  REQUIRE(pump(*client.session, *server.session));
  CHECK(server.heads.size() == 10);
  CHECK(server.session->tracked_streams() == 10);
  CHECK(client.closed.size() == 40);
  for (const auto& [stream, code] : client.closed) {
    CHECK(code == static_cast<uint32_t>(H2Error::kRefusedStream));
  }
}

TEST_CASE("h2 sessions: an oversized header block resets only its stream", "[net][h2]") {
  H2Limits limits;
  limits.max_header_list_bytes = 4096;
  ServerSide server(limits);
  ClientSide client;
  RequestHead big = get("/big");
  big.headers.push_back({"x-big", std::string(8000, 'z')});
  auto bad = client.session->submit_request(big, false);
  auto good = client.session->submit_request(get("/small"), false);
  REQUIRE(pump(*client.session, *server.session));
  CHECK(server.heads.count(*bad) == 0);
  CHECK(client.closed.count(*bad) == 1);
  CHECK(server.heads.count(*good) == 1);
}

TEST_CASE("h2 server session: an HTTP/1.1 request is not a preface", "[net][h2]") {
  ServerSide server;
  CHECK_FALSE(server.session->feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n").ok());
  CHECK(server.session->is_finished());
  CHECK(server.heads.empty());
  CHECK(could_be_h2_preface("PRI * HTTP/2"));
  CHECK_FALSE(could_be_h2_preface("GET / HTTP/1.1"));
}

TEST_CASE("h2 server session: GOAWAY lets open streams finish", "[net][h2]") {
  ServerSide server;
  ClientSide client;
  auto stream = client.session->submit_request(get("/"), false);
  REQUIRE(pump(*client.session, *server.session));
  client.session->shutdown();
  REQUIRE(pump(*client.session, *server.session));
  REQUIRE(server.session->submit_response(*stream, {204, {}}, false).ok());
  server.session->shutdown();
  REQUIRE(pump(*client.session, *server.session));
  CHECK(client.heads[*stream].status == 204);
  CHECK(server.session->is_finished());
  CHECK(client.session->is_finished());
}

TEST_CASE("h2 server session survives random bytes and truncated or mutated frames",
          "[net][h2][fuzz]") {
  std::mt19937 rng(20261203);
  // A real conversation to cut and mutate.
  ClientSide recorder;
  RequestHead post = get("/x");
  post.method = "POST";
  auto stream = recorder.session->submit_request(post, true);
  REQUIRE(stream.ok());
  REQUIRE(recorder.session->queue_data(*stream, "body").ok());
  REQUIRE(recorder.session->finish(*stream, {{"t", "1"}}).ok());
  std::string conversation;
  for (std::string out; !(out = recorder.session->take_output()).empty();) conversation += out;

  for (int i = 0; i < 500; ++i) {
    ServerSide server;
    std::string input;
    if (i % 3 == 0) {
      input.resize(rng() % 512);
      for (char& c : input) c = static_cast<char>(rng());
    } else if (i % 3 == 1) {
      input = std::string(kClientPreface) +
              conversation.substr(kClientPreface.size(), rng() % conversation.size());
    } else {
      input = conversation;
      for (int flips = 0; flips < 4; ++flips)
        input[rng() % input.size()] = static_cast<char>(rng());
    }
    // Fed in random pieces, answered as it goes: nothing may crash or hang.
    size_t at = 0;
    while (at < input.size()) {
      size_t n = 1 + rng() % 64;
      if (!server.session->feed(std::string_view(input).substr(at, n)).ok()) break;
      for (auto [s, head] : server.heads) {
        if (server.session->submit_response(s, {200, {}}, true).ok()) {
          (void)server.session->queue_data(s, "ok");
          (void)server.session->finish(s);
        }
      }
      server.heads.clear();
      at += n;
      (void)server.session->take_output();
    }
    while (!server.session->take_output().empty()) {
    }
  }
}
