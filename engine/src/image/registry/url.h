// Minimal URL handling for registry traffic: split an absolute http(s) URL into its origin and
// resolve a redirect's Location against the request URL. Only what redirect policy needs.
#pragma once

#include <string>

#include "core/result.h"

namespace matchlock::image::registry {

struct Url {
  std::string scheme;  // "http" | "https", lowercase
  std::string host;    // lowercase, IPv6 without brackets
  int port = 0;        // explicit or the scheme default
  std::string target;  // path + query, starts with "/"
};

Result<Url> parse_url(const std::string& url);
// Resolves an absolute or path-absolute ("/x") Location against the URL it came from.
Result<std::string> resolve_location(const std::string& base, const std::string& location);
// The Authorization header may follow a redirect only to the same scheme, host and port:
// object stores behind registries reject (or log) foreign credentials.
bool same_origin(const Url& a, const Url& b);

}  // namespace matchlock::image::registry
