#include "net/dns/dns_tcp_endpoint.h"

namespace matchlock::net {

// The session is owned by this endpoint and never calls back after it is destroyed.
DnsTcpEndpoint::DnsTcpEndpoint(DnsForwarder& dns)
    : session_(dns, [this](std::string framed) { on_answer(std::move(framed)); }) {}

void DnsTcpEndpoint::on_bytes(GuestBytes bytes) {
  size_t credit = bytes.credit();
  std::string data = bytes.take_string();
  guest_->credit(credit);
  if (!session_.feed(data)) guest_->reset_connection();  // a malformed stream
}

void DnsTcpEndpoint::on_guest_fin() {
  guest_fin_ = true;
  // Answers still to come: the connection closes after the last one.
  if (session_.pending() == 0) close_after_last_answer();
}

void DnsTcpEndpoint::on_answer(std::string framed) {
  guest_->send(framed);
  if (guest_fin_ && session_.pending() == 0) close_after_last_answer();
}

void DnsTcpEndpoint::close_after_last_answer() {
  guest_->stream_delivered();
  guest_->end();  // our FIN follows the last answer
}

}  // namespace matchlock::net
