#include <catch2/catch.hpp>

#include "guest_protocol/frame_codec.h"

using namespace matchlock::guest_protocol;

namespace {
std::string header(uint8_t type, uint32_t stream, uint32_t len) {
  std::string h(1, static_cast<char>(type));
  for (uint32_t v : {stream, len}) {
    h.push_back(static_cast<char>(v >> 24));
    h.push_back(static_cast<char>(v >> 16));
    h.push_back(static_cast<char>(v >> 8));
    h.push_back(static_cast<char>(v));
  }
  return h;
}
}  // namespace

TEST_CASE("frame round-trips through encoder and decoder", "[channel]") {
  FrameDecoder d;
  d.feed(encode_frame(FrameType::kData, 7, data_payload(kStdout, "hello")));
  auto f = d.next();
  REQUIRE(f);
  CHECK(f->type == FrameType::kData);
  CHECK(f->stream == 7);
  auto data = parse_data(f->payload);
  REQUIRE(data);
  CHECK(data->fd == kStdout);
  CHECK(data->bytes == "hello");
  CHECK_FALSE(d.next());
  CHECK_FALSE(d.failed());
}

TEST_CASE("decoder reassembles frames split at every byte boundary", "[channel]") {
  std::string wire = encode_frame(FrameType::kHello, 0, "{\"version\":1}") +
                     encode_frame(FrameType::kExit, 3, i32_payload(-1));
  FrameDecoder d;
  std::vector<Frame> frames;
  for (char c : wire) {
    d.feed(std::string_view(&c, 1));
    while (auto f = d.next()) frames.push_back(*f);
  }
  REQUIRE(frames.size() == 2);
  CHECK(frames[0].payload == "{\"version\":1}");
  CHECK(parse_i32(frames[1].payload) == -1);
}

TEST_CASE("truncated frame waits for more bytes without failing", "[channel]") {
  std::string wire = encode_frame(FrameType::kData, 1, data_payload(kStderr, "abcdef"));
  FrameDecoder d;
  d.feed(std::string_view(wire).substr(0, wire.size() - 2));
  CHECK_FALSE(d.next());
  CHECK_FALSE(d.failed());
  d.feed(std::string_view(wire).substr(wire.size() - 2));
  CHECK(d.next());
}

TEST_CASE("oversized frame header fails before any payload arrives", "[channel]") {
  FrameDecoder d;
  d.feed(header(static_cast<uint8_t>(FrameType::kData), 1, kMaxFramePayload + 1));
  CHECK_FALSE(d.next());
  CHECK(d.failed());
  CHECK(d.error().find("exceeds") != std::string::npos);
  CHECK(d.buffered() == kFrameHeaderSize);  // nothing was allocated for the claimed payload
}

TEST_CASE("a 4 GiB length claim is rejected, not allocated", "[channel]") {
  FrameDecoder d;
  d.feed(header(static_cast<uint8_t>(FrameType::kData), 1, 0xffffffffu));
  CHECK_FALSE(d.next());
  CHECK(d.failed());
}

TEST_CASE("unknown frame type fails the decoder and it stays failed", "[channel]") {
  FrameDecoder d;
  d.feed(header(0xee, 0, 0));
  CHECK_FALSE(d.next());
  CHECK(d.failed());
  d.feed(encode_frame(FrameType::kPing, 0, ""));
  CHECK_FALSE(d.next());
}

TEST_CASE("payload parsers reject wrong sizes and unknown fds", "[channel]") {
  CHECK_FALSE(parse_data(""));
  CHECK_FALSE(parse_data(std::string(1, '\x03') + "x"));
  CHECK_FALSE(parse_fd(""));
  CHECK_FALSE(parse_fd("\x01\x02"));
  CHECK_FALSE(parse_fd("\x09"));
  CHECK_FALSE(parse_credit("\x01"));
  CHECK_FALSE(parse_u32("abc"));
  CHECK_FALSE(parse_i32("abcde"));
  CHECK_FALSE(parse_resize("abc"));
  auto c = parse_credit(credit_payload(kStdin, 4096));
  REQUIRE(c);
  CHECK(c->fd == kStdin);
  CHECK(c->bytes == 4096);
  auto r = parse_resize(resize_payload(50, 140));
  REQUIRE(r);
  CHECK(r->rows == 50);
  CHECK(r->cols == 140);
}

TEST_CASE("garbage bytes never crash the decoder", "[channel]") {
  uint32_t seed = 12345;
  for (int round = 0; round < 200; ++round) {
    FrameDecoder d;
    std::string junk;
    for (int i = 0; i < 300; ++i) {
      seed = seed * 1103515245 + 12345;
      junk.push_back(static_cast<char>(seed >> 16));
    }
    d.feed(junk);
    int frames = 0;
    while (d.next()) ++frames;
    CHECK(d.buffered() <= junk.size());
  }
}

TEST_CASE("port stream frames round-trip and have names", "[channel]") {
  for (auto type : {FrameType::kPortOpen, FrameType::kPortOpened, FrameType::kPortClose,
                    FrameType::kPortClosed}) {
    CHECK(is_known_frame_type(static_cast<uint8_t>(type)));
    CHECK(std::string(frame_type_name(type)).rfind("PORT_", 0) == 0);
    FrameDecoder d;
    d.feed(encode_frame(type, 9, R"({"port":8080})"));
    auto f = d.next();
    REQUIRE(f);
    CHECK(f->type == type);
    CHECK(f->stream == 9);
    CHECK(f->payload == R"({"port":8080})");
  }
  CHECK_FALSE(is_known_frame_type(0x24));
  CHECK_FALSE(is_known_frame_type(0x1f));
}

TEST_CASE("an oversized PORT_OPEN is rejected before its payload arrives", "[channel]") {
  FrameDecoder d;
  d.feed(header(static_cast<uint8_t>(FrameType::kPortOpen), 1, kMaxFramePayload + 1));
  CHECK_FALSE(d.next());
  CHECK(d.failed());
  CHECK(d.buffered() == kFrameHeaderSize);
}
