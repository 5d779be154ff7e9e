// Channel frames (engine/src/guest_protocol/frame_codec.cpp): the decoder both the engine
// (GuestConnection) and the agent (guest/src/channel.cpp) run on the bytes of the other side,
// and the parsers of the binary payloads (DATA, EOF, CREDIT, EXIT, CANCEL, RESIZE).
// Invariants: chunking does not change the frames; no payload exceeds the limit; a decoded
// frame re-encodes to exactly the bytes it was decoded from; payload parsers round-trip.
#include <optional>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "guest_protocol/frame_codec.h"

namespace gp = matchlock::guest_protocol;

namespace {

struct Decoded {
  std::vector<gp::Frame> frames;
  bool failed = false;
  size_t consumed = 0;  // bytes of the input making up `frames`
};

// A small limit in the harness too, so oversized headers are reachable with short inputs.
Decoded decode(std::string_view input, size_t chunk, uint32_t max_payload) {
  Decoded out;
  gp::FrameDecoder decoder(max_payload);
  for (size_t off = 0; off < input.size(); off += chunk) {
    decoder.feed(input.substr(off, chunk));
    while (auto f = decoder.next()) {
      out.consumed += gp::kFrameHeaderSize + f->payload.size();
      out.frames.push_back(std::move(*f));
    }
  }
  out.failed = decoder.failed();
  return out;
}

void check_payload_parsers(const gp::Frame& f) {
  if (auto d = gp::parse_data(f.payload))
    FUZZ_CHECK(gp::data_payload(d->fd, d->bytes) == f.payload);
  if (auto fd = gp::parse_fd(f.payload)) FUZZ_CHECK(gp::fd_payload(*fd) == f.payload);
  if (auto c = gp::parse_credit(f.payload))
    FUZZ_CHECK(gp::credit_payload(c->fd, c->bytes) == f.payload);
  if (auto v = gp::parse_u32(f.payload)) FUZZ_CHECK(gp::u32_payload(*v) == f.payload);
  if (auto v = gp::parse_i32(f.payload)) FUZZ_CHECK(gp::i32_payload(*v) == f.payload);
  if (auto r = gp::parse_resize(f.payload))
    FUZZ_CHECK(gp::resize_payload(r->rows, r->cols) == f.payload);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  size_t chunk = 1 + data[0] % 23;
  uint32_t max_payload = data[1] & 1 ? gp::kMaxFramePayload : 64;
  std::string_view input = matchlock::fuzz::as_text(data + 2, size - 2);

  Decoded whole = decode(input, input.size() + 1, max_payload);
  Decoded pieces = decode(input, chunk, max_payload);
  FUZZ_CHECK(whole.failed == pieces.failed);
  FUZZ_CHECK(whole.frames.size() == pieces.frames.size());

  std::string reencoded;
  for (size_t i = 0; i < whole.frames.size(); ++i) {
    const gp::Frame& f = whole.frames[i];
    FUZZ_CHECK(f.type == pieces.frames[i].type && f.stream == pieces.frames[i].stream &&
               f.payload == pieces.frames[i].payload);
    FUZZ_CHECK(f.payload.size() <= max_payload);
    gp::encode_frame(f.type, f.stream, f.payload, reencoded);
    check_payload_parsers(f);
  }
  FUZZ_CHECK(reencoded == input.substr(0, whole.consumed));
  return 0;
}
