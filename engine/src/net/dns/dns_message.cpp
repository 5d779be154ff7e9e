#include "net/dns/dns_message.h"

namespace matchlock::net::dns {

std::string DnsName::to_text() const {
  if (labels.empty()) return ".";
  std::string out;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out.push_back('.');
    for (char c : labels[i]) {
      bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '_';
      if (plain) {
        out.push_back(c);
        continue;
      }
      unsigned value = static_cast<unsigned char>(c);
      out.push_back('\\');
      out.push_back(static_cast<char>('0' + value / 100));
      out.push_back(static_cast<char>('0' + value / 10 % 10));
      out.push_back(static_cast<char>('0' + value % 10));
    }
  }
  return out;
}

}  // namespace matchlock::net::dns
