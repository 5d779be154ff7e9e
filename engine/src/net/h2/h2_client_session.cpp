#include "net/h2/h2_client_session.h"

#include <charconv>
#include <string>
#include <utility>

namespace matchlock::net::h2 {
namespace {

// nghttp2 has checked that a response head carries exactly one valid :status.
ResponseHead response_head_from(std::vector<policy::HeaderField> fields) {
  ResponseHead head;
  for (policy::HeaderField& field : fields) {
    if (field.name == ":status") {
      std::from_chars(field.value.data(), field.value.data() + field.value.size(), head.status);
    } else if (!field.name.empty() && field.name.front() != ':') {
      head.headers.push_back(std::move(field));
    }
  }
  return head;
}

}  // namespace

H2ClientSession::H2ClientSession(const H2Limits& limits, ClientEvents events)
    : H2Connection(Role::kClient, limits,
                   ConnectionEvents{
                       .on_header_block =
                           [this](StreamId stream, std::vector<policy::HeaderField> fields,
                                  bool end) { on_header_block(stream, std::move(fields), end); },
                       .on_data =
                           [this](StreamId stream, std::string_view data) {
                             if (events_.on_response_data) events_.on_response_data(stream, data);
                           },
                       .on_remote_end =
                           [this](StreamId stream) {
                             if (events_.on_response_end) events_.on_response_end(stream, {});
                           },
                       .on_stream_closed =
                           [this](StreamId stream, uint32_t code) {
                             responses_seen_.erase(stream);
                             if (events_.on_stream_closed) events_.on_stream_closed(stream, code);
                           },
                       .on_data_sent =
                           [this](StreamId stream, size_t bytes) {
                             if (events_.on_request_data_sent)
                               events_.on_request_data_sent(stream, bytes);
                           },
                   }),
      events_(std::move(events)) {}

void H2ClientSession::on_header_block(StreamId stream, std::vector<policy::HeaderField> fields,
                                      bool end_stream) {
  if (responses_seen_.contains(stream)) {
    // After the final head, a block is the trailers (nghttp2 insists it ends the stream).
    std::erase_if(fields, [](const policy::HeaderField& f) { return f.name.starts_with(':'); });
    if (events_.on_response_end) events_.on_response_end(stream, std::move(fields));
    return;
  }
  ResponseHead head = response_head_from(std::move(fields));
  if (head.status < 200) return;  // 1xx: informational, the final head follows
  responses_seen_.insert(stream);
  if (events_.on_response_head) events_.on_response_head(stream, std::move(head));
  if (end_stream && events_.on_response_end) events_.on_response_end(stream, {});
}

Result<StreamId> H2ClientSession::submit_request(const RequestHead& head, bool with_body) {
  OutgoingHeaders headers;
  headers.add_pseudo(":method", head.method);
  headers.add_pseudo(":scheme", head.scheme.empty() ? "https" : head.scheme);
  headers.add_pseudo(":authority", head.authority);
  headers.add_pseudo(":path", head.path);
  headers.add_fields(head.headers);
  return submit_request_headers(headers, with_body);
}

}  // namespace matchlock::net::h2
