#include "net/link/frame_reader.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace matchlock;
using matchlock::net::FrameReader;

namespace {

std::string framed(const std::string& payload) {
  uint32_t n = static_cast<uint32_t>(payload.size());
  std::string out = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                     static_cast<char>(n >> 8), static_cast<char>(n)};
  return out + payload;
}

std::string length_only(uint32_t n) {
  return {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
          static_cast<char>(n)};
}

}  // namespace

TEST_CASE("frame reader splits frames across arbitrary read boundaries", "[net]") {
  FrameReader r(1518);
  std::string a(60, 'a'), b(1514, 'b'), c(14, 'c');
  std::string stream = framed(a) + framed(b) + framed(c);
  for (size_t step : {size_t{1}, size_t{3}, size_t{7}, size_t{1000}, stream.size()}) {
    FrameReader reader(1518);
    std::vector<std::string> got;
    for (size_t off = 0; off < stream.size(); off += step) {
      auto st = reader.feed(stream.data() + off, std::min(step, stream.size() - off),
                            [&](const uint8_t* f, size_t n) {
                              got.emplace_back(reinterpret_cast<const char*>(f), n);
                            });
      REQUIRE(st.ok());
    }
    REQUIRE(got == std::vector<std::string>{a, b, c});
    REQUIRE(reader.buffered() == 0);
  }
}

TEST_CASE("frame reader keeps a truncated frame until the rest arrives", "[net]") {
  FrameReader r(1518);
  std::string f = framed(std::string(100, 'x'));
  int frames = 0;
  auto count = [&](const uint8_t*, size_t) { ++frames; };
  REQUIRE(r.feed(f.data(), 50, count).ok());
  REQUIRE(frames == 0);
  REQUIRE(r.buffered() == 50);
  REQUIRE(r.feed(f.data() + 50, f.size() - 50, count).ok());
  REQUIRE(frames == 1);
}

TEST_CASE("frame reader rejects lengths outside the Ethernet range and stays failed", "[net]") {
  for (uint32_t bad : {0u, 1u, 13u, 1519u, 65536u, 0xffffffffu}) {
    FrameReader r(1518);
    int frames = 0;
    std::string s = length_only(bad) + std::string(64, 'z');
    auto st = r.feed(s.data(), s.size(), [&](const uint8_t*, size_t) { ++frames; });
    REQUIRE_FALSE(st.ok());
    REQUIRE(st.error().code == ErrorCode::kProtocol);
    REQUIRE(frames == 0);
    std::string good = framed(std::string(60, 'g'));
    REQUIRE_FALSE(r.feed(good.data(), good.size(), [&](const uint8_t*, size_t) { ++frames; }).ok());
    REQUIRE(frames == 0);
  }
}

TEST_CASE("frame reader delivers good frames before a bad length", "[net]") {
  FrameReader r(1518);
  std::string s = framed(std::string(60, 'a')) + length_only(70000);
  int frames = 0;
  auto st = r.feed(s.data(), s.size(), [&](const uint8_t*, size_t) { ++frames; });
  REQUIRE(frames == 1);
  REQUIRE_FALSE(st.ok());
}
