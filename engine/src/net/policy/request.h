// What plugins see: a description of one connection or request, never a socket or pcb.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/policy/ip_address.h"

namespace matchlock::net::policy {

enum class Protocol {
  kHttp,  // one HTTP/1.x request (each request on a keep-alive connection is its own Request)
  kTls,   // a TLS connection, by its ClientHello, before it is terminated
  kRaw,   // unclassified TCP
  kDns,   // a DNS question; `host` is the queried name
};

struct HeaderField {
  std::string name;
  std::string value;
};

struct Request {
  Protocol protocol = Protocol::kRaw;
  // Normalized (lowercase, no port, no brackets, no trailing dot): SNI, Host, or DNS name.
  // Empty when the connection named nothing (raw TCP, TLS without SNI, HTTP/1.0 without Host).
  std::string host;
  // The same destination as named by the other layers, normalized like `host`; empty when that
  // layer named nothing. Secret injection requires all names to agree (secret_injector.h).
  std::string sni;       // kHttp inside an intercepted TLS connection: the ClientHello's SNI
  std::string dns_name;  // the name whose DNS answer (or --add-host entry) gave `destination`
  // The address the guest aimed at, when there is one (not for kDns).
  std::optional<IpAddress> destination;
  uint16_t port = 0;
  // HTTP only.
  bool tls = false;  // the guest spoke HTTP inside TLS (an intercepted https:// request)
  std::string method;
  std::string target;  // origin form "/path?query" (absolute-form targets are reduced to it)
  std::vector<HeaderField> headers;
  // Per sandbox, increasing: ties one exchange's events together (0 for non-HTTP requests).
  uint64_t exchange_id = 0;
};

struct Response {
  int status = 0;
  std::vector<HeaderField> headers;
};

// Case-insensitive header lookups shared by plugins and the proxy.
const HeaderField* find_header(const std::vector<HeaderField>& headers, std::string_view name);
void set_header(std::vector<HeaderField>& headers, std::string_view name, std::string value);
void remove_header(std::vector<HeaderField>& headers, std::string_view name);

// The canonical spelling of a field name: each '-'-separated word capitalised, the rest
// lowercased ("x-api-KEY" -> "X-Api-Key"). Names holding bytes outside the token grammar are
// returned unchanged (they are rejected elsewhere, never repaired here).
std::string canonical_header_name(std::string_view name);

}  // namespace matchlock::net::policy
