// The endpoint for DNS over TCP to any address: the engine answers (DnsTcpSession, same policy
// as UDP); nothing is dialled. The connection closes after the guest's FIN once every query
// it sent has been answered.
#pragma once

#include "net/dns/dns_tcp_session.h"
#include "net/tcp/guest_stream.h"

namespace matchlock::net {

class DnsTcpEndpoint final : public GuestStreamEndpoint {
 public:
  explicit DnsTcpEndpoint(DnsForwarder& dns);

  void start(GuestSide& guest) override { guest_ = &guest; }
  void on_bytes(GuestBytes bytes) override;
  void on_guest_fin() override;
  void on_guest_congested() override {}  // answers are small and bounded by the queries
  void on_guest_room() override {}
  void reset() override {}
  void close() override {}

 private:
  void on_answer(std::string framed);
  void close_after_last_answer();

  GuestSide* guest_ = nullptr;
  bool guest_fin_ = false;
  DnsTcpSession session_;  // last: its answers reach the members above
};

}  // namespace matchlock::net
