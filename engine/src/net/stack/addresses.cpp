#include "net/stack/addresses.h"

#include <arpa/inet.h>

namespace matchlock::net {

std::string ipv4_text(uint32_t ip) {
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 0xff) + "." +
         std::to_string((ip >> 8) & 0xff) + "." + std::to_string(ip & 0xff);
}

bool parse_ipv4(const std::string& text, uint32_t* out) {
  in_addr a{};
  if (inet_pton(AF_INET, text.c_str(), &a) != 1) return false;
  *out = ntohl(a.s_addr);
  return true;
}

bool never_relay(uint32_t ip) {
  uint8_t first = ip >> 24;
  if (first == 127 || first == 0) return true;  // loopback and aliases
  if ((ip >> (32 - kGuestPrefix)) == (kGatewayIp >> (32 - kGuestPrefix))) return true;  // link
  if (first >= 224) return true;  // multicast, reserved, bcast
  return false;
}

}  // namespace matchlock::net
