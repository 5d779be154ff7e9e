// Outgoing header blocks: pseudo-headers plus policy HeaderFields, as nghttp2 name/value pairs.
// The fields come from the other peer or from policy plugins, written for HTTP/1.1 as often as
// not: names are lowercased and the fields HTTP/2 forbids are dropped (RFC 9113 8.2.2), since a
// peer answers a block carrying them with PROTOCOL_ERROR.
#pragma once

#include <nghttp2/nghttp2.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/policy/request.h"

namespace matchlock::net::h2 {

class OutgoingHeaders {
 public:
  void add_pseudo(std::string_view name, std::string value);
  // Regular fields, lowercased; connection-specific ones, "host" (":authority" carries it), "te"
  // other than "trailers" and anything named like a pseudo-header are left out.
  void add_fields(const std::vector<policy::HeaderField>& fields);

  // Points into this object: valid until it changes or goes. nghttp2 copies at submit time.
  std::vector<nghttp2_nv> nv() const;

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

// True for a field that only means something to one HTTP/1.1 hop.
bool is_connection_specific_field(std::string_view lowercase_name);

}  // namespace matchlock::net::h2
