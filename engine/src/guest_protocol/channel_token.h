// The per-connection channel token of CONFIG and READY (protocol.h): what both sides check.
#pragma once

#include <string_view>

#include "guest_protocol/protocol.h"

namespace matchlock::guest_protocol {

// kChannelTokenLength lowercase hex digits: the only shape either side accepts.
inline bool is_channel_token(std::string_view token) {
  if (token.size() != kChannelTokenLength) return false;
  for (char c : token) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Equality whose time does not depend on where the tokens differ, so a guest cannot learn the
// token a byte at a time from how fast a wrong one is refused.
inline bool channel_tokens_equal(std::string_view expected, std::string_view received) {
  if (expected.size() != received.size()) return false;
  unsigned char difference = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    difference |= static_cast<unsigned char>(expected[i] ^ received[i]);
  }
  return difference == 0;
}

}  // namespace matchlock::guest_protocol
