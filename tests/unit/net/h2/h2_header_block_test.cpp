#include "net/h2/h2_header_block.h"

#include <catch2/catch.hpp>

using namespace matchlock::net::h2;

namespace {

std::vector<std::pair<std::string, std::string>> pairs(const OutgoingHeaders& headers) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const nghttp2_nv& nv : headers.nv()) {
    out.emplace_back(std::string(reinterpret_cast<const char*>(nv.name), nv.namelen),
                     std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen));
  }
  return out;
}

}  // namespace

TEST_CASE("h2 outgoing headers drop HTTP/1.1 hop fields and lowercase the rest", "[net][h2]") {
  OutgoingHeaders headers;
  headers.add_pseudo(":status", "200");
  headers.add_fields({{"Content-Type", "text/plain"},
                      {"Connection", "close"},
                      {"Keep-Alive", "timeout=5"},
                      {"Transfer-Encoding", "chunked"},
                      {"Upgrade", "websocket"},
                      {"Host", "example.com"},
                      {":path", "/smuggled"},
                      {"TE", "gzip"},
                      {"te", "Trailers"},
                      {"X-Custom", "1"}});
  using P = std::pair<std::string, std::string>;
  CHECK(pairs(headers) == std::vector<P>{{":status", "200"},
                                         {"content-type", "text/plain"},
                                         {"te", "trailers"},
                                         {"x-custom", "1"}});
}
