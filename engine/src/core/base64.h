// Standard base64 (RFC 4648 §4: "+/" alphabet, "=" padding), the encoding of every payload byte
// on the JSON-RPC wire.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace matchlock::base64 {

std::string encode(std::string_view bytes);
// Appends the encoding of `bytes` to `out` (a large payload encoded in place, not copied).
void encode_append(std::string& out, std::string_view bytes);
constexpr size_t encoded_size(size_t bytes) {
  return (bytes + 2) / 3 * 4;
}

// Strict: the length must be a multiple of 4, padding only at the end, no whitespace.
// Returns nullopt for anything else (untrusted client input).
std::optional<std::string> decode(std::string_view text);

}  // namespace matchlock::base64
