// Standard base64 (RFC 4648 §4: "+/" alphabet, "=" padding), the encoding of every payload byte
// on the JSON-RPC wire.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace matchlock::base64 {

std::string encode(std::string_view bytes);

// Strict: the length must be a multiple of 4, padding only at the end, no whitespace.
// Returns nullopt for anything else (untrusted client input).
std::optional<std::string> decode(std::string_view text);

}  // namespace matchlock::base64
