// Parses DNS messages: queries from the guest, answers from upstream resolvers.
//
// THREAT MODEL: both sides are hostile (the guest; an upstream or on-path attacker). Every
// offset is bounds-checked; compression pointers must point strictly backwards (no loops) and
// are capped per name; labels <= 63 and names <= 255 bytes on the wire; record counts from the
// header are never used to size allocations (each record must be present to be stored).
// Errors are kProtocol with a short reason.
#pragma once

#include <string_view>

#include "core/result.h"
#include "net/dns/dns_message.h"

namespace matchlock::net::dns {

// Reads the 12-byte header alone (enough to answer FORMERR with the right id).
Result<DnsHeader> parse_dns_header(std::string_view message);

// A standard query: QR=0, exactly one question, no answer or authority records. Additional
// records are walked to find an OPT (EDNS); any other additional record is ignored. The opcode
// is not checked: callers answer opcode != 0 with NOTIMP.
Result<DnsQuery> parse_dns_query(std::string_view message);

// A response: QR=1; all sections parsed; A rdata must be 4 bytes and AAAA 16.
Result<DnsResponse> parse_dns_response(std::string_view message);

}  // namespace matchlock::net::dns
