#include "net/dns/dns_builder.h"

namespace matchlock::net::dns {
namespace {

constexpr uint16_t kFlagResponse = 0x8000;
constexpr uint16_t kFlagRecursionDesired = 0x0100;
constexpr uint16_t kFlagRecursionAvailable = 0x0080;
constexpr uint16_t kOpcodeMask = 0x7800;
// Compression pointer to offset 12: the question name, which always follows the header.
constexpr uint16_t kPointerToQuestionName = 0xc000 | kDnsHeaderSize;

void put_u16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

void put_u32(std::string& out, uint32_t v) {
  put_u16(out, static_cast<uint16_t>(v >> 16));
  put_u16(out, static_cast<uint16_t>(v & 0xffff));
}

// Labels come from the parser or dns_name_from_text, so they are within the wire limits.
void put_name(std::string& out, const DnsName& name) {
  for (const std::string& label : name.labels) {
    out.push_back(static_cast<char>(label.size()));
    out.append(label);
  }
  out.push_back('\0');
}

void put_header(std::string& out, uint16_t id, uint16_t flags, uint16_t questions, uint16_t answers,
                uint16_t additionals) {
  put_u16(out, id);
  put_u16(out, flags);
  put_u16(out, questions);
  put_u16(out, answers);
  put_u16(out, 0);
  put_u16(out, additionals);
}

uint16_t response_flags(const DnsHeader& query, Rcode rcode) {
  return static_cast<uint16_t>(kFlagResponse | (query.flags & kOpcodeMask) |
                               (query.flags & kFlagRecursionDesired) | kFlagRecursionAvailable |
                               static_cast<uint16_t>(rcode));
}

void put_question(std::string& out, const DnsQuestion& question) {
  put_name(out, question.name);
  put_u16(out, question.type);
  put_u16(out, question.klass);
}

}  // namespace

std::string build_sinkhole_response(const DnsQuery& query, const policy::IpAddress& sinkhole_v4,
                                    uint32_t ttl_seconds) {
  const DnsQuestion& question = query.question;
  bool answer_a = sinkhole_v4.is_v4() && question.klass == kClassIn &&
                  (question.type == record_type::kA || question.type == record_type::kAny);
  std::string out;
  put_header(out, query.header.id, response_flags(query.header, Rcode::kNoError), 1,
             answer_a ? 1 : 0, 0);
  put_question(out, question);
  if (answer_a) {
    put_u16(out, kPointerToQuestionName);
    put_u16(out, record_type::kA);
    put_u16(out, kClassIn);
    put_u32(out, ttl_seconds);
    put_u16(out, 4);
    out.append(reinterpret_cast<const char*>(sinkhole_v4.bytes().data()), 4);
  }
  return out;
}

std::string build_error_response(const DnsQuery& query, Rcode rcode) {
  std::string out;
  put_header(out, query.header.id, response_flags(query.header, rcode), 1, 0, 0);
  put_question(out, query.question);
  return out;
}

std::string build_format_error(const DnsHeader& header) {
  std::string out;
  put_header(out, header.id, response_flags(header, Rcode::kFormErr), 0, 0, 0);
  return out;
}

std::string build_dns_query(uint16_t id, const DnsQuestion& question,
                            std::optional<uint16_t> edns_udp_payload_size) {
  std::string out;
  put_header(out, id, kFlagRecursionDesired, 1, 0, edns_udp_payload_size ? 1 : 0);
  put_question(out, question);
  if (edns_udp_payload_size) {
    out.push_back('\0');  // root owner name
    put_u16(out, record_type::kOpt);
    put_u16(out, *edns_udp_payload_size);
    put_u32(out, 0);  // extended rcode, version 0, no DO bit
    put_u16(out, 0);  // no options
  }
  return out;
}

Result<DnsName> dns_name_from_text(std::string_view text) {
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  DnsName name;
  if (text.empty()) return name;  // the root
  size_t wire_length = 1;
  size_t start = 0;
  while (true) {
    size_t dot = text.find('.', start);
    std::string_view label = text.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.empty() || label.size() > kMaxDnsLabelLength) {
      return invalid_argument("invalid DNS name \"" + std::string(text) + "\": bad label");
    }
    wire_length += 1 + label.size();
    if (wire_length > kMaxDnsNameWireLength) {
      return invalid_argument("invalid DNS name \"" + std::string(text) + "\": too long");
    }
    name.labels.emplace_back(label);
    if (dot == std::string_view::npos) return name;
    start = dot + 1;
  }
}

}  // namespace matchlock::net::dns
