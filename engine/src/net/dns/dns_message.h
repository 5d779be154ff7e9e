// DNS message types (RFC 1035, RFC 6891 for EDNS) shared by the parser and the builder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "net/policy/ip_address.h"

namespace matchlock::net::dns {

constexpr size_t kDnsHeaderSize = 12;
constexpr size_t kMaxDnsMessageSize = 65535;  // TCP length prefix limit; UDP is smaller
constexpr size_t kMaxDnsNameWireLength = 255;
constexpr size_t kMaxDnsLabelLength = 63;
// Pointers must also point strictly backwards, which alone guarantees termination; the jump
// cap bounds the work per name on top of that.
constexpr int kMaxDnsCompressionJumps = 32;

namespace record_type {
constexpr uint16_t kA = 1;
constexpr uint16_t kCname = 5;
constexpr uint16_t kAaaa = 28;
constexpr uint16_t kOpt = 41;
constexpr uint16_t kAny = 255;
}  // namespace record_type

constexpr uint16_t kClassIn = 1;

enum class Rcode : uint8_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNxDomain = 3,
  kNotImp = 4,
  kRefused = 5,
};

struct DnsHeader {
  uint16_t id = 0;
  uint16_t flags = 0;
  uint16_t question_count = 0;
  uint16_t answer_count = 0;
  uint16_t authority_count = 0;
  uint16_t additional_count = 0;

  bool is_response() const { return (flags & 0x8000) != 0; }
  uint8_t opcode() const { return static_cast<uint8_t>((flags >> 11) & 0xf); }
  bool truncated() const { return (flags & 0x0200) != 0; }
  bool recursion_desired() const { return (flags & 0x0100) != 0; }
  uint8_t rcode() const { return static_cast<uint8_t>(flags & 0xf); }
};

// A domain name as its raw labels (bytes as received, case preserved: some resolvers randomise
// case and expect it echoed).
struct DnsName {
  std::vector<std::string> labels;

  // Presentation form: labels joined by '.', with every byte outside [A-Za-z0-9-_] written as
  // \DDD (so a label containing '.' can never pose as two labels). "." for the root.
  // Case is preserved; host matching is case-insensitive.
  std::string to_text() const;
};

struct DnsQuestion {
  DnsName name;
  uint16_t type = 0;
  uint16_t klass = 0;
};

struct DnsRecord {
  DnsName name;
  uint16_t type = 0;
  uint16_t klass = 0;
  uint32_t ttl = 0;
  std::string rdata;  // raw; names inside rdata are not decompressed
};

struct DnsQuery {
  DnsHeader header;
  DnsQuestion question;
  // The requester's EDNS UDP payload size, when the query carried an OPT record.
  std::optional<uint16_t> edns_udp_payload_size;
};

struct DnsResponse {
  DnsHeader header;
  std::vector<DnsQuestion> questions;
  std::vector<DnsRecord> answers;
  std::vector<DnsRecord> authorities;
  std::vector<DnsRecord> additionals;
  // Every A and AAAA (class IN) in any section: what a rebinding check must look at.
  std::vector<policy::IpAddress> addresses;
};

}  // namespace matchlock::net::dns
