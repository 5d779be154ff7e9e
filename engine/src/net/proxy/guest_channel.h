// The guest's side of a proxied connection as an HTTP session sees it: plaintext both ways,
// whether the connection is TLS (the endpoint encrypts) or plain HTTP.
#pragma once

#include <cstddef>
#include <string_view>

namespace matchlock::net::proxy {

class GuestChannel {
 public:
  virtual ~GuestChannel() = default;
  virtual void send(std::string_view plaintext) = 0;
  // Orderly close once everything sent has gone (TLS: close_notify, then FIN).
  virtual void end() = 0;
  // Reset the connection (the exchange broke off mid-message).
  virtual void abort() = 0;
  // Plaintext bytes the guest's connection would take now (0: pause the upstream).
  virtual size_t room() const = 0;
  // The session took bytes out of its input buffer: the guest's window may reopen.
  virtual void input_consumed() = 0;
};

// One application protocol spoken over a GuestChannel (HTTP/1.1 today, HTTP/2 next): the
// endpoint picks it by the negotiated ALPN and feeds it plaintext.
class GuestProtocolSession {
 public:
  virtual ~GuestProtocolSession() = default;
  virtual void on_guest_data(std::string_view plaintext) = 0;
  virtual void on_guest_eof() = 0;
  virtual void on_guest_room() = 0;
  // The connection is gone (reset or closed): end whatever is in flight, quietly.
  virtual void on_guest_gone() = 0;
  // Input received and not yet consumed: the endpoint stops crediting the guest above a bound.
  virtual size_t buffered_input() const = 0;
};

}  // namespace matchlock::net::proxy
