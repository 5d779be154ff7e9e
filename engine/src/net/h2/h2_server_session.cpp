#include "net/h2/h2_server_session.h"

#include <string>
#include <utility>

#include "net/policy/host_name.h"

namespace matchlock::net::h2 {
namespace {

// nghttp2 has checked the pseudo-headers (required ones present, none unknown or repeated).
RequestHead request_head_from(std::vector<policy::HeaderField> fields) {
  RequestHead head;
  std::string cookies;
  for (policy::HeaderField& field : fields) {
    if (field.name == ":method") {
      head.method = std::move(field.value);
    } else if (field.name == ":scheme") {
      head.scheme = std::move(field.value);
    } else if (field.name == ":authority") {
      head.authority = std::move(field.value);
    } else if (field.name == ":path") {
      head.path = std::move(field.value);
    } else if (field.name == "cookie") {
      // HTTP/2 may split cookies into fields; policy sees one, as HTTP/1.1 sends it (RFC 9113
      // 8.2.3).
      if (!cookies.empty()) cookies += "; ";
      cookies += field.value;
    } else if (!field.name.empty() && field.name.front() != ':') {
      head.headers.push_back(std::move(field));
    }
  }
  if (!cookies.empty()) head.headers.push_back({"cookie", std::move(cookies)});
  if (head.authority.empty()) {
    if (const policy::HeaderField* host = policy::find_header(head.headers, "host")) {
      head.authority = host->value;
    }
  }
  policy::remove_header(head.headers, "host");  // ":authority" carries it from here on
  head.host = policy::host_from_authority(head.authority).value_or("");
  return head;
}

}  // namespace

H2ServerSession::H2ServerSession(const H2Limits& limits, ServerEvents events)
    : H2Connection(Role::kServer, limits,
                   ConnectionEvents{
                       .on_header_block =
                           [this](StreamId stream, std::vector<policy::HeaderField> fields,
                                  bool end) { on_header_block(stream, std::move(fields), end); },
                       .on_data =
                           [this](StreamId stream, std::string_view data) {
                             if (events_.on_request_data) events_.on_request_data(stream, data);
                           },
                       .on_remote_end =
                           [this](StreamId stream) {
                             if (events_.on_request_end) events_.on_request_end(stream, {});
                           },
                       .on_stream_closed =
                           [this](StreamId stream, uint32_t code) {
                             requests_seen_.erase(stream);
                             if (events_.on_stream_closed) events_.on_stream_closed(stream, code);
                           },
                       .on_data_sent =
                           [this](StreamId stream, size_t bytes) {
                             if (events_.on_response_data_sent)
                               events_.on_response_data_sent(stream, bytes);
                           },
                   }),
      events_(std::move(events)) {}

void H2ServerSession::on_header_block(StreamId stream, std::vector<policy::HeaderField> fields,
                                      bool end_stream) {
  if (requests_seen_.insert(stream).second) {
    if (events_.on_request_head)
      events_.on_request_head(stream, request_head_from(std::move(fields)));
    if (end_stream && events_.on_request_end) events_.on_request_end(stream, {});
    return;
  }
  // A second block is the trailers (nghttp2 insists it ends the stream).
  std::erase_if(fields, [](const policy::HeaderField& f) { return f.name.starts_with(':'); });
  if (events_.on_request_end) events_.on_request_end(stream, std::move(fields));
}

Status H2ServerSession::submit_response(StreamId stream, const ResponseHead& head, bool with_body) {
  OutgoingHeaders headers;
  headers.add_pseudo(":status", std::to_string(head.status));
  headers.add_fields(head.headers);
  return submit_response_headers(stream, headers, with_body);
}

}  // namespace matchlock::net::h2
