#include "net/h2/h2_header_block.h"

#include <algorithm>
#include <array>

#include "core/ascii.h"

namespace matchlock::net::h2 {
namespace {

std::string to_lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return out;
}

}  // namespace

bool is_connection_specific_field(std::string_view lowercase_name) {
  static constexpr std::array<std::string_view, 6> kHopByHop = {
      "connection",        "keep-alive", "proxy-connection",
      "transfer-encoding", "upgrade",    "http2-settings"};
  return std::find(kHopByHop.begin(), kHopByHop.end(), lowercase_name) != kHopByHop.end();
}

void OutgoingHeaders::add_pseudo(std::string_view name, std::string value) {
  fields_.emplace_back(std::string(name), std::move(value));
}

void OutgoingHeaders::add_fields(const std::vector<policy::HeaderField>& fields) {
  for (const policy::HeaderField& field : fields) {
    std::string name = to_lower(field.name);
    if (name.empty() || name.front() == ':' || name == "host") continue;
    if (is_connection_specific_field(name)) continue;
    if (name == "te") {
      if (equals_ignoring_ascii_case(field.value, "trailers"))
        fields_.emplace_back("te", "trailers");
      continue;
    }
    fields_.emplace_back(std::move(name), field.value);
  }
}

std::vector<nghttp2_nv> OutgoingHeaders::nv() const {
  std::vector<nghttp2_nv> out;
  out.reserve(fields_.size());
  for (const auto& [name, value] : fields_) {
    // nghttp2 takes non-const pointers but only reads them.
    out.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                   reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                   value.size(), NGHTTP2_NV_FLAG_NONE});
  }
  return out;
}

}  // namespace matchlock::net::h2
