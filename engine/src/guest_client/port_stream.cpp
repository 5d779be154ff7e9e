// Port streams on the host side: PortHandle and the GuestConnection members that open one and
// interpret its frames. The flow-control frames (DATA, EOF, CREDIT) are shared with exec streams
// and handled in guest_connection.cpp.
#include "guest_client/port_stream.h"

#include "core/json.h"
#include "guest_client/guest_connection.h"

namespace matchlock::guest_client {

using guest_protocol::FrameType;
using guest_protocol::StreamFd;

namespace {
// Guest-supplied error texts are cut to this before they reach logs or clients.
constexpr size_t kMaxGuestMessage = 1000;
}  // namespace

std::string PortTarget::describe() const {
  if (address.find(':') != std::string::npos) return "[" + address + "]:" + std::to_string(port);
  return address + ":" + std::to_string(port);
}

// ---- PortHandle -----------------------------------------------------------------------------

void PortHandle::write(std::string bytes) {
  queue_bytes(std::move(bytes));
}

void PortHandle::shutdown_write() {
  queue_eof();
}

void PortHandle::close() {
  if (finished()) return;
  if (auto c = conn_.lock()) {
    c->send(FrameType::kPortClose, stream_id(), "");
    c->finish_stream(stream_id());
  }
  finished_ = true;
}

void PortHandle::deliver_bytes(StreamFd, std::string_view bytes, std::function<void()> consumed) {
  if (events_.on_data) {
    events_.on_data(bytes, std::move(consumed));
  } else {
    consumed();
  }
}

void PortHandle::deliver_eof(StreamFd) {
  if (events_.on_eof) events_.on_eof();
}

void PortHandle::deliver_lost(const Error& reason) {
  auto on_closed = std::move(events_.on_closed);
  events_ = {};
  if (on_closed) on_closed(reason);
}

// ---- GuestConnection: port streams ----------------------------------------------------------

std::shared_ptr<PortHandle> GuestConnection::open_port(const PortTarget& target,
                                                       PortEvents events) {
  auto h = std::make_shared<PortHandle>();
  h->target_ = target;
  h->events_ = std::move(events);
  h->from_guest_[StreamFd::kStderr] = IncomingFlow::unused();  // one byte stream each way
  std::optional<Error> refused;
  if (closed_) {
    refused = Error(ErrorCode::kGuest, "guest channel is closed");
  } else if (target.port == 0) {
    refused = invalid_argument("guest port 0 is not a port one can connect to");
  } else if (target.address.empty() || target.address.size() > 64) {
    refused = invalid_argument("guest address \"" + target.address.substr(0, 64) +
                               "\" is not an IP address");
  }
  if (refused) {
    h->finished_ = true;
    h->deliver_lost(*refused);
    return h;
  }
  register_stream(h);

  json::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("port", target.port, a);
  d.AddMember("address", json::str(target.address, a), a);
  send(FrameType::kPortOpen, h->stream_id(), json::to_string(d));
  return h;
}

void GuestConnection::on_port_frame(guest_protocol::Frame& f,
                                    const std::shared_ptr<PortHandle>& h) {
  switch (f.type) {
    case FrameType::kPortOpened: {
      if (h->opened_) return fail(Error(ErrorCode::kProtocol, "guest sent PORT_OPENED twice"));
      h->opened_ = true;
      if (h->events_.on_opened) h->events_.on_opened();
      return;
    }
    case FrameType::kPortClosed:
    case FrameType::kError: {
      // ERROR: the connect failed (before PORT_OPENED). PORT_CLOSED: the connection is over,
      // cleanly ({}) or not ({"error":..}). Both end the stream.
      json::Document d;
      d.Parse(f.payload.c_str(), f.payload.size());
      const char* key = f.type == FrameType::kError ? "message" : "error";
      std::string msg = d.IsObject() ? json::get_string(d, key) : "";
      bool clean = f.type == FrameType::kPortClosed && d.IsObject() && !d.HasMember("error");
      auto on_closed = std::move(h->events_.on_closed);
      h->events_ = {};
      finish_stream(f.stream);
      if (!on_closed) return;
      if (clean) return on_closed(Status());
      if (msg.empty()) msg = "the guest closed the connection";
      on_closed(Error(ErrorCode::kGuest, "guest port " + h->target_.describe() + ": " +
                                             msg.substr(0, kMaxGuestMessage)));
      return;
    }
    default:
      return fail(Error(ErrorCode::kProtocol, std::string("unexpected ") +
                                                  guest_protocol::frame_type_name(f.type) +
                                                  " frame on a port stream"));
  }
}

}  // namespace matchlock::guest_client
