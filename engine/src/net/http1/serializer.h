// Writes HTTP/1.1 heads and chunked framing for the proxy. Header names and values come from
// the guest, a server or a plugin (an injected secret): any that could end a line or a field
// early (CR, LF, NUL; a name that is not a token) is refused, so nothing we write can be read
// as an extra header or an extra message.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "net/policy/request.h"

namespace matchlock::net::http1 {

// Connection-level fields that never cross the proxy as they came (RFC 9110 7.6.1), plus the
// framing fields the proxy rewrites itself; fields named in Connection are dropped too.
std::vector<policy::HeaderField> end_to_end_headers(
    const std::vector<policy::HeaderField>& headers);

Result<std::string> serialize_request_head(std::string_view method, std::string_view target,
                                           const std::vector<policy::HeaderField>& headers);
Result<std::string> serialize_response_head(int status, std::string_view reason,
                                            const std::vector<policy::HeaderField>& headers);

// One chunk of a chunked body ("" for an empty piece: an empty chunk would end the body).
std::string chunk(std::string_view data);
// The last chunk, no trailers.
constexpr std::string_view kLastChunk = "0\r\n\r\n";

// A complete response made up by the engine (403, 502, ...): text/plain, Connection: close.
std::string plain_text_response(int status, std::string_view body);
std::string_view reason_phrase(int status);

}  // namespace matchlock::net::http1
