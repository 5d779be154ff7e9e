// Builds the DNS messages the engine sends itself: answers for names it will not forward, and
// queries re-encoded from a parsed guest query.
//
// EDNS: locally built answers carry no OPT record (a responder without EDNS is valid per
// RFC 6891 §7, and these answers are tiny). Queries built by build_dns_query carry an OPT
// record when given a payload size, so upstream answers can exceed 512 bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "net/dns/dns_message.h"

namespace matchlock::net::dns {

// Short, so a name allowed at runtime (allow_list_add) resolves for real soon after.
constexpr uint32_t kSinkholeTtlSeconds = 10;
// What the engine advertises upstream (the DNS flag day 2020 value: avoids fragmentation).
constexpr uint16_t kEdnsUdpPayloadSize = 1232;

// NOERROR echoing the question. For class IN type A or ANY: one A record `sinkhole_v4`; for
// anything else (AAAA, TXT, ...): no records (NODATA), so nothing about the name leaks and
// IPv6 clients fall back to the A answer.
std::string build_sinkhole_response(const DnsQuery& query, const policy::IpAddress& sinkhole_v4,
                                    uint32_t ttl_seconds = kSinkholeTtlSeconds);

// An answer with `rcode` (NXDOMAIN, REFUSED, SERVFAIL, NOTIMP) echoing the question.
std::string build_error_response(const DnsQuery& query, Rcode rcode);

// FORMERR for a message whose header parsed but the rest did not: same id, no question.
std::string build_format_error(const DnsHeader& header);

// A recursive query for `question` with the given id; OPT record when edns_udp_payload_size is
// set. Labels are re-encoded without compression, so nothing but the parsed question reaches
// the upstream server.
std::string build_dns_query(uint16_t id, const DnsQuestion& question,
                            std::optional<uint16_t> edns_udp_payload_size = kEdnsUdpPayloadSize);

// "Example.COM." -> labels; kInvalidArgument for empty labels or over-long names/labels.
Result<DnsName> dns_name_from_text(std::string_view text);

}  // namespace matchlock::net::dns
