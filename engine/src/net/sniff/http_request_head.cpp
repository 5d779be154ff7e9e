#include "net/sniff/http_request_head.h"

#include <optional>

#include "core/ascii.h"
#include "net/policy/host_name.h"

namespace matchlock::net::sniff {
namespace {

using Status = HttpHeadParseResult::Status;

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool is_target_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f;
}

bool is_field_value_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);  // VCHAR, SP, HTAB, obs-text
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() &&
         equals_ignoring_ascii_case(s.substr(0, prefix.size()), prefix);
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

HttpHeadParseResult malformed(std::string error) {
  HttpHeadParseResult result;
  result.status = Status::kMalformed;
  result.error = std::move(error);
  return result;
}

// Checks the request line, complete (`complete`) or a prefix of it. kNeedMore means "still
// plausible", kComplete means "valid and complete".
Status check_request_line(std::string_view line, bool complete, HttpRequestHead* head) {
  size_t pos = 0;
  while (pos < line.size() && is_tchar(line[pos])) ++pos;
  if (pos > kMaxHttpMethodLength) return Status::kNotHttp;
  if (pos == line.size()) return complete ? Status::kNotHttp : Status::kNeedMore;
  if (pos == 0 || line[pos] != ' ') return Status::kNotHttp;
  std::string_view method = line.substr(0, pos);
  size_t target_start = ++pos;
  while (pos < line.size() && is_target_char(line[pos])) ++pos;
  if (pos == line.size()) return complete ? Status::kNotHttp : Status::kNeedMore;
  if (pos == target_start || line[pos] != ' ') return Status::kNotHttp;
  std::string_view target = line.substr(target_start, pos - target_start);
  std::string_view version = line.substr(pos + 1);
  constexpr std::string_view kVersionPrefix = "HTTP/1.";
  if (!complete) {
    size_t n = version.size() < kVersionPrefix.size() ? version.size() : kVersionPrefix.size();
    if (version.substr(0, n) != kVersionPrefix.substr(0, n)) return Status::kNotHttp;
    if (version.size() > kVersionPrefix.size() &&
        (version.size() > kVersionPrefix.size() + 1 ||
         (version.back() != '0' && version.back() != '1'))) {
      return Status::kNotHttp;
    }
    return Status::kNeedMore;
  }
  if (version != "HTTP/1.0" && version != "HTTP/1.1") return Status::kNotHttp;
  head->method = std::string(method);
  head->target = std::string(target);
  head->version = std::string(version);
  return Status::kComplete;
}

// The host named by an absolute-form target ("http://Host:80/path"), "" if not absolute-form,
// nullopt if absolute-form but unusable.
std::optional<std::string> absolute_form_host(std::string_view target) {
  std::string_view rest;
  if (istarts_with(target, "http://")) {
    rest = target.substr(7);
  } else if (istarts_with(target, "https://")) {
    rest = target.substr(8);
  } else {
    return std::string();
  }
  size_t end = rest.find_first_of("/?#");
  return policy::host_from_authority(rest.substr(0, end));
}

// What the header fields said that the checks after them need.
struct FieldsSeen {
  bool content_length = false, transfer_encoding = false, host = false;
  std::string host_field;
};

// Reads the header fields (`fields` ends with CRLF) into `head`; the error if one is malformed.
std::optional<std::string> parse_fields(std::string_view fields, HttpRequestHead& head,
                                        FieldsSeen& seen) {
  while (!fields.empty()) {
    size_t eol = fields.find("\r\n");  // present: `fields` ends with CRLF
    std::string_view line = fields.substr(0, eol);
    fields.remove_prefix(eol + 2);
    if (line.find_first_of("\r\n") != std::string_view::npos) return "bare CR or LF";
    if (line.front() == ' ' || line.front() == '\t') return "obsolete line folding";
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return "header without a name";
    std::string_view name = line.substr(0, colon);
    for (char c : name) {
      if (!is_tchar(c)) return "invalid header name";
    }
    std::string_view value = trim_ows(line.substr(colon + 1));
    for (char c : value) {
      if (!is_field_value_char(c)) return "invalid header value";
    }
    if (head.headers.size() == kMaxHttpHeaderFields) return "too many header fields";
    head.headers.push_back({std::string(name), std::string(value)});

    if (equals_ignoring_ascii_case(name, "host")) {
      if (seen.host) return "more than one Host header";
      seen.host = true;
      auto host = policy::host_from_authority(value);
      if (!host) return "invalid Host header";
      seen.host_field = std::move(*host);
    } else if (equals_ignoring_ascii_case(name, "content-length")) {
      if (seen.content_length) return "more than one Content-Length header";
      seen.content_length = true;
      if (value.empty() || value.size() > 16) return "invalid Content-Length";
      uint64_t length = 0;
      for (char c : value) {
        if (c < '0' || c > '9') return "invalid Content-Length";
        length = length * 10 + static_cast<uint64_t>(c - '0');
      }
      if (length > kMaxHttpContentLength) return "Content-Length too large";
      head.content_length = length;
    } else if (equals_ignoring_ascii_case(name, "transfer-encoding")) {
      if (seen.transfer_encoding) return "more than one Transfer-Encoding header";
      seen.transfer_encoding = true;
      // Only "chunked" alone is accepted: any other coding list is a smuggling vector and no
      // client we care about sends one on a request.
      if (!equals_ignoring_ascii_case(value, "chunked")) return "unsupported Transfer-Encoding";
    } else if (equals_ignoring_ascii_case(name, "upgrade")) {
      head.upgrade = true;
    }
  }

  return std::nullopt;
}

}  // namespace

HttpHeadParseResult parse_http_request_head(std::string_view bytes) {
  HttpHeadParseResult result;
  if (bytes.size() > kMaxHttpHeadBytes) bytes = bytes.substr(0, kMaxHttpHeadBytes);

  size_t line_end = bytes.find("\r\n");
  std::string_view first_line = bytes.substr(0, line_end);
  // A read may end between CR and LF.
  if (line_end == std::string_view::npos && first_line.ends_with('\r')) first_line.remove_suffix(1);
  // A bare CR or LF inside the request line is never plausible HTTP.
  if (first_line.find_first_of("\r\n") != std::string_view::npos) return result;
  result.status = check_request_line(first_line, line_end != std::string_view::npos, &result.head);
  if (result.status == Status::kNotHttp) return result;
  if (result.status == Status::kNeedMore) {
    if (bytes.size() == kMaxHttpHeadBytes) return malformed("request line too long");
    return result;
  }

  size_t head_end = bytes.find("\r\n\r\n", line_end);
  if (head_end == std::string_view::npos) {
    if (bytes.size() == kMaxHttpHeadBytes) return malformed("request head larger than 32 KiB");
    result.status = Status::kNeedMore;
    return result;
  }
  HttpRequestHead& head = result.head;
  head.head_size = head_end + 4;

  std::string_view fields = bytes.substr(line_end + 2, head_end + 2 - (line_end + 2));
  FieldsSeen seen;
  if (auto error = parse_fields(fields, head, seen)) return malformed(std::move(*error));
  bool saw_content_length = seen.content_length, saw_transfer_encoding = seen.transfer_encoding,
       saw_host = seen.host;
  std::string host_field = std::move(seen.host_field);

  if (saw_transfer_encoding && saw_content_length) {
    return malformed("both Content-Length and Transfer-Encoding");
  }
  if (saw_transfer_encoding && head.version == "HTTP/1.0") {
    return malformed("Transfer-Encoding on HTTP/1.0");
  }
  if (saw_transfer_encoding) {
    head.body_framing = HttpBodyFraming::kChunked;
  } else if (saw_content_length) {
    head.body_framing = HttpBodyFraming::kContentLength;
  }

  if (equals_ignoring_ascii_case(head.method, "CONNECT"))
    return malformed("CONNECT is not supported");
  auto target_host = absolute_form_host(head.target);
  if (!target_host) return malformed("invalid absolute-form target");
  bool origin_form = head.target.front() == '/';
  bool asterisk_form = head.target == "*" && head.method == "OPTIONS";
  if (target_host->empty() && !origin_form && !asterisk_form) {
    return malformed("unsupported request target");
  }
  if (!target_host->empty()) {
    if (saw_host && host_field != *target_host) {
      return malformed("absolute-form target and Host header name different hosts");
    }
    head.host = std::move(*target_host);
  } else {
    head.host = std::move(host_field);
  }
  if (head.host.empty() && head.version == "HTTP/1.1") return malformed("missing Host header");
  result.status = Status::kComplete;
  return result;
}

}  // namespace matchlock::net::sniff
