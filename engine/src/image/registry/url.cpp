#include "image/registry/url.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace matchlock::image::registry {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

Result<Url> parse_url(const std::string& url) {
  auto bad = [&](const std::string& why) {
    return invalid_argument("bad URL \"" + url + "\": " + why);
  };
  size_t sep = url.find("://");
  if (sep == std::string::npos) return bad("no scheme");
  Url u;
  u.scheme = lower(url.substr(0, sep));
  if (u.scheme != "http" && u.scheme != "https") return bad("scheme must be http or https");
  size_t auth_start = sep + 3;
  size_t path_start = url.find_first_of("/?#", auth_start);
  std::string authority = url.substr(
      auth_start, path_start == std::string::npos ? std::string::npos : path_start - auth_start);
  if (authority.find('@') != std::string::npos) return bad("userinfo is not allowed");
  u.target = path_start == std::string::npos ? "/" : url.substr(path_start);
  if (u.target.front() != '/') u.target = "/" + u.target;
  std::string port_text;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) return bad("unterminated IPv6 address");
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return bad("junk after IPv6 address");
      port_text = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.rfind(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) port_text = authority.substr(colon + 1);
  }
  if (u.host.empty()) return bad("no host");
  u.host = lower(u.host);
  u.port = u.scheme == "https" ? 443 : 80;
  if (!port_text.empty()) {
    int p = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), p);
    if (ec != std::errc() || ptr != port_text.data() + port_text.size() || p <= 0 || p > 65535) {
      return bad("bad port");
    }
    u.port = p;
  }
  return u;
}

Result<std::string> resolve_location(const std::string& base, const std::string& location) {
  if (location.empty()) return invalid_argument("redirect without a Location");
  if (location.find("://") != std::string::npos) {
    if (auto u = parse_url(location); !u) return u.error();
    return location;
  }
  auto b = parse_url(base);
  if (!b) return b.error();
  if (location.starts_with("//")) return b->scheme + ":" + location;
  if (location.front() != '/')
    return invalid_argument("unsupported relative redirect \"" + location + "\"");
  std::string host = b->host.find(':') != std::string::npos ? "[" + b->host + "]" : b->host;
  return b->scheme + "://" + host + ":" + std::to_string(b->port) + location;
}

bool same_origin(const Url& a, const Url& b) {
  return a.scheme == b.scheme && a.host == b.host && a.port == b.port;
}

}  // namespace matchlock::image::registry
