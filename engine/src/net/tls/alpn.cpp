#include "net/tls/alpn.h"

namespace matchlock::net::tls {
namespace {

constexpr std::string_view kH2 = "h2";
constexpr std::string_view kHttp11 = "http/1.1";

ApplicationProtocol protocol_named(std::string_view name) {
  if (name == kH2) return ApplicationProtocol::kH2;
  if (name == kHttp11) return ApplicationProtocol::kHttp11;
  return ApplicationProtocol::kUnspecified;
}

}  // namespace

AlpnChoice choose_application_protocol(std::string_view offered) {
  AlpnChoice best;
  while (!offered.empty()) {
    size_t length = static_cast<unsigned char>(offered.front());
    offered.remove_prefix(1);
    if (length == 0 || length > offered.size()) return {};  // malformed: choose nothing
    std::string_view name = offered.substr(0, length);
    offered.remove_prefix(length);
    ApplicationProtocol protocol = protocol_named(name);
    if (protocol == ApplicationProtocol::kH2) {
      best = {protocol, name};
    } else if (protocol == ApplicationProtocol::kHttp11 && best.name.empty()) {
      best = {protocol, name};
    }
  }
  return best;
}

ApplicationProtocol negotiated_application_protocol(const SSL& ssl) {
  const unsigned char* data = nullptr;  // owned by the SSL
  unsigned int length = 0;
  SSL_get0_alpn_selected(&ssl, &data, &length);
  if (data == nullptr) return ApplicationProtocol::kUnspecified;
  return protocol_named(std::string_view(reinterpret_cast<const char*>(data), length));
}

}  // namespace matchlock::net::tls
