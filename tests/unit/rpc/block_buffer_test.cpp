#include <catch2/catch.hpp>
#include <string>

#include "core/base64.h"
#include "rpc/block_buffer.h"

using matchlock::rpc::BlockBuffer;

namespace {

std::string joined(const BlockBuffer& b) {
  std::string all;
  for (std::string_view p : b.pieces()) all += p;
  return all;
}

}  // namespace

TEST_CASE("block_buffer_keeps_bytes_in_order_in_full_blocks", "[rpc]") {
  BlockBuffer b;
  CHECK(b.pieces().empty());
  std::string expected;
  // Appends of every awkward size, crossing block boundaries mid-append.
  for (size_t n : {1u, 7u, 4096u, 500000u, 1u, 768u * 1024u, 3u * 1024u * 1024u + 5u}) {
    std::string chunk(n, static_cast<char>('a' + expected.size() % 26));
    b.append(chunk);
    expected += chunk;
  }
  CHECK(b.size() == expected.size());
  CHECK(joined(b) == expected);
  auto pieces = b.pieces();
  for (size_t i = 0; i + 1 < pieces.size(); ++i)
    CHECK(pieces[i].size() == BlockBuffer::kBlockBytes);
  CHECK(BlockBuffer::kBlockBytes % 3 == 0);  // so the blocks encode to base64 one by one
  std::string encoded;
  for (std::string_view p : pieces) matchlock::base64::encode_append(encoded, p);
  CHECK(encoded == matchlock::base64::encode(expected));
  b.release_block(0);  // the others stay readable
  CHECK(std::string(pieces.back()) == expected.substr(expected.size() - pieces.back().size()));
  b.clear();
  CHECK(b.size() == 0);
  CHECK(b.pieces().empty());
}
