// Reads the requests a guest sends on one connection, one event at a time, so the proxy pulls
// the next piece only when it is ready for it (a policy decision pending, an upstream slow).
// Pipelined requests wait in the buffer until the previous exchange is done with.
//
// THREAT MODEL: every byte is the guest's, and an upstream server parses what we forward, so
// anything two parsers could frame differently is refused before it goes anywhere (request
// smuggling): each head is first checked by the strict head parser (net/sniff: bare LF,
// obs-fold, Content-Length with Transfer-Encoding, duplicate or conflicting Content-Length,
// any coding but a lone "chunked", an absolute-form target naming another host), then framed
// by llhttp in strict mode. A head larger than kMaxHeadBytes gets 431. The buffer holds what
// the guest sent and the proxy did not yet take: its owner stops reading the guest while
// buffered() is large (flow control), so it is bounded by that owner's window.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "net/http1/llhttp_parser.h"
#include "net/http1/message.h"

namespace matchlock::net::http1 {

struct RequestEvent {
  enum class Kind { kHead, kBody, kEnd };
  Kind kind = Kind::kHead;
  RequestHead head;  // kHead
  std::string body;  // kBody: de-chunked body bytes
};

// Why reading failed: the status the guest is answered with (400 or 431) and a reason.
struct RequestError {
  int status = 400;
  std::string reason;
};

class RequestReader {
 public:
  RequestReader();

  void append(std::string_view bytes) { input_.append(bytes); }
  // The next event, or nullopt until more bytes come. After an error every call fails again.
  // After the kEnd of an upgrade request, events stop: take_opaque() has the rest.
  std::optional<RequestEvent> next();
  const std::optional<RequestError>& error() const { return error_; }

  // Between requests with nothing buffered.
  bool idle() const { return !in_message_ && input_.empty(); }
  bool in_message() const { return in_message_; }
  // The current message is complete; its kEnd has not been taken yet.
  bool end_pending() const { return pending_end_; }
  size_t buffered() const { return input_.size(); }
  // The bytes after an upgrade request (for a raw splice once the server said 101).
  std::string take_opaque();

 private:
  std::optional<RequestEvent> read_head();
  std::optional<RequestEvent> read_body();
  std::optional<RequestEvent> fail(int status, std::string reason);

  std::unique_ptr<LlhttpParser> parser_;
  std::string input_;
  bool in_message_ = false;
  bool pending_end_ = false;      // the message ended: kEnd is the next event
  bool upgrade_pending_ = false;  // the current message is an upgrade request
  bool upgraded_ = false;
  std::optional<RequestError> error_;
};

// "http://host:port/p?q" -> "/p?q"; "*" and origin forms unchanged.
std::string origin_form(std::string_view target);

}  // namespace matchlock::net::http1
