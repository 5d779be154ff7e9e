#include "net/policy/request.h"

#include <algorithm>

#include "core/ascii.h"

namespace matchlock::net::policy {

const HeaderField* find_header(const std::vector<HeaderField>& headers, std::string_view name) {
  for (const HeaderField& field : headers) {
    if (equals_ignoring_ascii_case(field.name, name)) return &field;
  }
  return nullptr;
}

void set_header(std::vector<HeaderField>& headers, std::string_view name, std::string value) {
  remove_header(headers, name);
  headers.push_back({std::string(name), std::move(value)});
}

void remove_header(std::vector<HeaderField>& headers, std::string_view name) {
  std::erase_if(headers,
                [&](const HeaderField& f) { return equals_ignoring_ascii_case(f.name, name); });
}

std::string canonical_header_name(std::string_view name) {
  static constexpr std::string_view kTokenSymbols = "!#$%&'*+-.^_`|~";
  std::string out;
  out.reserve(name.size());
  bool word_start = true;
  for (char c : name) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && kTokenSymbols.find(c) == std::string_view::npos) return std::string(name);
    out += word_start && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A')
           : word_start                       ? c
                                              : ascii_lower(c);
    word_start = c == '-';
  }
  return out;
}

}  // namespace matchlock::net::policy
