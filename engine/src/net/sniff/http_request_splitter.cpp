#include "net/sniff/http_request_splitter.h"

#include <algorithm>

namespace matchlock::net::sniff {
namespace {

using Kind = HttpStreamEvent::Kind;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_visible_or_blank(char c) {
  auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}

// Appends a slice of the caller's input, merging with the previous slice when contiguous.
void emit_slice(std::vector<HttpStreamEvent>& events, Kind kind, std::string_view slice) {
  if (slice.empty()) return;
  if (!events.empty() && events.back().kind == kind &&
      events.back().bytes.data() + events.back().bytes.size() == slice.data()) {
    events.back().bytes =
        std::string_view(events.back().bytes.data(), events.back().bytes.size() + slice.size());
    return;
  }
  HttpStreamEvent event;
  event.kind = kind;
  event.bytes = slice;
  events.push_back(std::move(event));
}

}  // namespace

Status HttpRequestSplitter::fail(std::string message) {
  state_ = State::kFailed;
  head_buffer_.clear();
  line_buffer_.clear();
  return Error(ErrorCode::kProtocol, "http request stream: " + message);
}

void HttpRequestSplitter::finish_request(std::vector<HttpStreamEvent>& events) {
  HttpStreamEvent end;
  end.kind = Kind::kRequestEnd;
  events.push_back(std::move(end));
  state_ = upgrade_after_request_ ? State::kOpaque : State::kHead;
}

Result<std::vector<HttpStreamEvent>> HttpRequestSplitter::feed(std::string_view input) {
  std::vector<HttpStreamEvent> events;
  if (state_ == State::kFailed) {
    return Error(ErrorCode::kProtocol, "http request stream: already failed");
  }
  while (!input.empty()) {
    size_t consumed = 0;
    switch (state_) {
      case State::kHead: {
        auto step = step_head(input, events);
        if (!step.ok()) return step.error();
        consumed = *step;
        break;
      }
      case State::kFixedBody:
      case State::kChunkData: {
        consumed = static_cast<size_t>(std::min<uint64_t>(remaining_, input.size()));
        emit_slice(events, Kind::kBodyBytes, input.substr(0, consumed));
        remaining_ -= consumed;
        if (remaining_ == 0) {
          if (state_ == State::kFixedBody) {
            finish_request(events);
          } else {
            state_ = State::kChunkDataCr;
          }
        }
        break;
      }
      case State::kChunkDataCr:
      case State::kChunkDataLf: {
        char expected = state_ == State::kChunkDataCr ? '\r' : '\n';
        if (input[0] != expected) return fail("chunk data not followed by CRLF").error();
        consumed = 1;
        emit_slice(events, Kind::kBodyBytes, input.substr(0, 1));
        state_ = state_ == State::kChunkDataCr ? State::kChunkDataLf : State::kChunkSizeLine;
        break;
      }
      case State::kChunkSizeLine:
      case State::kTrailerLine: {
        State before = state_;
        auto step = step_chunk_line(input);
        if (!step.ok()) return step.error();
        consumed = *step;
        emit_slice(events, Kind::kBodyBytes, input.substr(0, consumed));
        // An empty trailer line ends the request; step_chunk_line signals it by moving to kHead.
        if (before == State::kTrailerLine && state_ == State::kHead) finish_request(events);
        break;
      }
      case State::kOpaque:
        consumed = input.size();
        emit_slice(events, Kind::kOpaqueBytes, input);
        break;
      case State::kFailed:
        return Error(ErrorCode::kProtocol, "http request stream: already failed");
    }
    input.remove_prefix(consumed);
  }
  return events;
}

Result<size_t> HttpRequestSplitter::step_head(std::string_view input,
                                              std::vector<HttpStreamEvent>& events) {
  size_t previous = head_buffer_.size();
  size_t take = std::min(input.size(), kMaxHttpHeadBytes - previous);
  head_buffer_.append(input.substr(0, take));

  // Re-parse only when the new bytes may complete the head or the request line, so a guest
  // dribbling one byte per segment costs linear, not quadratic, work.
  size_t search_from = previous >= 3 ? previous - 3 : 0;
  bool has_terminator = head_buffer_.find("\r\n\r\n", search_from) != std::string::npos;
  // Complete before: its whole CRLF was in the buffer already (a CRLF split across two reads
  // completes the line now, and the line must be checked now).
  size_t line_end = head_buffer_.find("\r\n");
  bool line_was_complete = line_end != std::string::npos && line_end + 2 <= previous;
  if (!has_terminator && line_was_complete && head_buffer_.size() < kMaxHttpHeadBytes) {
    return take;
  }

  HttpHeadParseResult parsed = parse_http_request_head(head_buffer_);
  switch (parsed.status) {
    case HttpHeadParseResult::Status::kNeedMore:
      if (head_buffer_.size() >= kMaxHttpHeadBytes) {
        return fail("request head larger than 32 KiB").error();
      }
      return take;
    case HttpHeadParseResult::Status::kNotHttp:
      return fail("not an HTTP/1.x request").error();
    case HttpHeadParseResult::Status::kMalformed:
      return fail(parsed.error).error();
    case HttpHeadParseResult::Status::kComplete:
      break;
  }

  HttpStreamEvent event;
  event.kind = Kind::kRequestHead;
  event.head = std::move(parsed.head);
  size_t head_size = event.head.head_size;
  // The head cannot end inside bytes an earlier call already examined; guard anyway, since a
  // wrong answer here would skip guest bytes unchecked.
  if (head_size <= previous) return fail("internal: request head ended in old bytes").error();
  event.raw_head = head_buffer_.substr(0, head_size);
  head_buffer_.clear();
  upgrade_after_request_ = event.head.upgrade;
  HttpBodyFraming framing = event.head.body_framing;
  uint64_t content_length = event.head.content_length;
  events.push_back(std::move(event));

  if (framing == HttpBodyFraming::kChunked) {
    state_ = State::kChunkSizeLine;
    trailer_bytes_ = 0;
  } else if (framing == HttpBodyFraming::kContentLength && content_length > 0) {
    state_ = State::kFixedBody;
    remaining_ = content_length;
  } else {
    finish_request(events);
  }
  return head_size - previous;
}

Result<size_t> HttpRequestSplitter::step_chunk_line(std::string_view input) {
  size_t lf = input.find('\n');
  size_t consumed = lf == std::string_view::npos ? input.size() : lf + 1;
  if (line_buffer_.size() + consumed > kMaxChunkLineBytes) {
    return fail("chunk-size or trailer line too long").error();
  }
  if (state_ == State::kTrailerLine && trailer_bytes_ + consumed > kMaxTrailerBytes) {
    return fail("trailers larger than 32 KiB").error();
  }
  trailer_bytes_ += state_ == State::kTrailerLine ? consumed : 0;
  line_buffer_.append(input.substr(0, consumed));
  if (lf == std::string_view::npos) return consumed;

  std::string line = std::move(line_buffer_);
  line_buffer_.clear();
  if (line.size() < 2 || line[line.size() - 2] != '\r')
    return fail("bare LF in chunked body").error();
  line.resize(line.size() - 2);
  if (line.find_first_of("\r\n") != std::string::npos)
    return fail("bare CR in chunked body").error();

  if (state_ == State::kTrailerLine) {
    if (line.empty()) {
      state_ = State::kHead;  // feed() turns this into kRequestEnd
      return consumed;
    }
    size_t colon = line.find(':');
    if (colon == 0 || colon == std::string::npos) return fail("invalid trailer field").error();
    for (char c : line) {
      if (!is_visible_or_blank(c)) return fail("invalid trailer field").error();
    }
    return consumed;
  }

  size_t digits = 0;
  uint64_t size = 0;
  while (digits < line.size() && hex_value(line[digits]) >= 0) {
    if (digits == kMaxChunkSizeDigits) return fail("chunk size too large").error();
    size = size * 16 + static_cast<uint64_t>(hex_value(line[digits]));
    ++digits;
  }
  if (digits == 0) return fail("invalid chunk size").error();
  std::string_view rest = std::string_view(line).substr(digits);
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
  if (!rest.empty()) {
    if (rest.front() != ';') return fail("invalid chunk size").error();
    for (char c : rest) {
      if (!is_visible_or_blank(c)) return fail("invalid chunk extension").error();
    }
  }
  if (size == 0) {
    state_ = State::kTrailerLine;
  } else {
    state_ = State::kChunkData;
    remaining_ = size;
  }
  return consumed;
}

}  // namespace matchlock::net::sniff
