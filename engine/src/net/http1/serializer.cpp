#include "net/http1/serializer.h"

#include <cstdio>

#include "core/ascii.h"

namespace matchlock::net::http1 {
namespace {

bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool valid_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name)
    if (!is_token_char(c)) return false;
  return true;
}

bool valid_value(std::string_view value) {
  for (char c : value)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

// Comma-separated tokens of a Connection field, trimmed.
bool connection_lists(const std::vector<policy::HeaderField>& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (!equals_ignoring_ascii_case(h.name, "connection")) continue;
    std::string_view v = h.value;
    while (!v.empty()) {
      size_t comma = v.find(',');
      std::string_view token = v.substr(0, comma);
      while (!token.empty() && (token.front() == ' ' || token.front() == '\t'))
        token.remove_prefix(1);
      while (!token.empty() && (token.back() == ' ' || token.back() == '\t'))
        token.remove_suffix(1);
      if (equals_ignoring_ascii_case(token, name)) return true;
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return false;
}

Status append_fields(std::string& out, const std::vector<policy::HeaderField>& headers) {
  for (const auto& h : headers) {
    if (!valid_name(h.name) || !valid_value(h.value)) {
      return Error(ErrorCode::kProtocol, "header field cannot be written safely");
    }
    out += h.name;
    out += ": ";
    out += h.value;
    out += "\r\n";
  }
  out += "\r\n";
  return {};
}

}  // namespace

std::vector<policy::HeaderField> end_to_end_headers(
    const std::vector<policy::HeaderField>& headers) {
  static constexpr std::string_view kDropped[] = {
      "connection",        "keep-alive", "proxy-connection", "te",     "trailer",
      "transfer-encoding", "upgrade",    "content-length",   "expect", "proxy-authorization"};
  std::vector<policy::HeaderField> out;
  for (const auto& h : headers) {
    bool drop = false;
    for (auto name : kDropped) drop = drop || equals_ignoring_ascii_case(h.name, name);
    if (!drop && connection_lists(headers, h.name)) drop = true;
    if (!drop) out.push_back(h);
  }
  return out;
}

Result<std::string> serialize_request_head(std::string_view method, std::string_view target,
                                           const std::vector<policy::HeaderField>& headers) {
  if (!valid_name(method) || target.empty() ||
      target.find_first_of(" \t\r\n") != std::string_view::npos || !valid_value(target)) {
    return Error(ErrorCode::kProtocol, "request line cannot be written safely");
  }
  std::string out;
  out.reserve(256);
  out.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  MATCHLOCK_TRY(append_fields(out, headers));
  return out;
}

Result<std::string> serialize_response_head(int status, std::string_view reason,
                                            const std::vector<policy::HeaderField>& headers) {
  if (status < 100 || status > 999 || !valid_value(reason)) {
    return Error(ErrorCode::kProtocol, "status line cannot be written safely");
  }
  std::string out = "HTTP/1.1 " + std::to_string(status) + " ";
  out.append(reason.empty() ? reason_phrase(status) : reason);
  out += "\r\n";
  MATCHLOCK_TRY(append_fields(out, headers));
  return out;
}

std::string chunk(std::string_view data) {
  if (data.empty()) return {};
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  std::string out(size);
  out.append(data);
  out += "\r\n";
  return out;
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 413:
      return "Content Too Large";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 502:
      return "Bad Gateway";
    default:
      return "Status";
  }
}

std::string plain_text_response(int status, std::string_view body) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " +
                    std::string(reason_phrase(status)) +
                    "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  out.append(body);
  return out;
}

}  // namespace matchlock::net::http1
