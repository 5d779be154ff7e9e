#include "net/tcp/connection_request.h"

#include <cassert>

#include "net/tcp/tcp_conn.h"

namespace matchlock::net {

ConnectionRequest::ConnectionRequest(const std::shared_ptr<TcpConn>& conn)
    : conn_(conn), syn_(conn->syn()) {}

ConnectionRequest::ConnectionRequest(ConnectionRequest&& other) noexcept
    : conn_(std::move(other.conn_)), syn_(other.syn_), completed_(other.completed_) {
  other.completed_ = true;  // the moved-from request completes nothing
}

ConnectionRequest::~ConnectionRequest() {
  if (!completed_) refuse();
}

bool ConnectionRequest::accept(std::unique_ptr<GuestStreamEndpoint> endpoint) {
  assert(!completed_ && "a connection request completes once");
  if (completed_) return false;
  completed_ = true;
  auto conn = conn_.lock();
  if (conn && conn->accept(endpoint)) return true;
  if (endpoint) endpoint->reset();
  return false;
}

void ConnectionRequest::refuse() {
  assert(!completed_ && "a connection request completes once");
  if (completed_) return;
  completed_ = true;
  if (auto conn = conn_.lock()) conn->refuse();
}

}  // namespace matchlock::net
