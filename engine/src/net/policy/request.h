// What plugins see: a description of one connection or request, never a socket or pcb.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "net/policy/ip_address.h"

namespace matchlock::net::policy {

enum class Protocol {
  kHttp,  // one HTTP/1.x request (each request on a keep-alive connection is its own Request)
  kTls,   // a TLS connection, by its ClientHello (the MITM issue will turn these into kHttp)
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
  std::string method;
  std::string target;
  std::vector<HeaderField> headers;
};

struct Response {
  int status = 0;
  std::vector<HeaderField> headers;
};

}  // namespace matchlock::net::policy
