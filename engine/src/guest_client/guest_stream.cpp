#include "guest_client/guest_stream.h"

#include "guest_client/guest_connection.h"

namespace matchlock::guest_client {

void GuestStream::queue_bytes(std::string bytes) {
  if (finished_ || to_guest_.finishing() || bytes.empty()) return;
  to_guest_.push(std::move(bytes));
  if (auto c = conn_.lock()) c->pump(*this);
}

void GuestStream::queue_eof() {
  if (finished_ || to_guest_.finishing()) return;
  to_guest_.finish();
  if (auto c = conn_.lock()) c->pump(*this);
}

}  // namespace matchlock::guest_client
