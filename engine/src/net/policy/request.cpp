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

}  // namespace matchlock::net::policy
