// DNS messages (engine/src/net/dns/dns_parser.cpp): guest queries and upstream answers, and the
// messages the engine builds from a parsed query (dns_builder.cpp).
// Invariants: a parsed query's name fits the wire limits; re-encoding the question
// (build_dns_query) and each answer built for it parse back to the same question; every address
// collected from a response is one of its A/AAAA records; no label exceeds 63 bytes.
#include <string>

#include "fuzz_check.h"
#include "net/dns/dns_builder.h"
#include "net/dns/dns_parser.h"

namespace dns = matchlock::net::dns;

namespace {

size_t wire_length(const dns::DnsName& name) {
  size_t n = 1;  // the root label
  for (const auto& label : name.labels) n += 1 + label.size();
  return n;
}

void check_name(const dns::DnsName& name) {
  for (const auto& label : name.labels) {
    FUZZ_CHECK(!label.empty() && label.size() <= dns::kMaxDnsLabelLength);
  }
  FUZZ_CHECK(wire_length(name) <= dns::kMaxDnsNameWireLength);
}

bool same_question(const dns::DnsQuestion& a, const dns::DnsQuestion& b) {
  return a.name.labels == b.name.labels && a.type == b.type && a.klass == b.klass;
}

void check_answer(const std::string& answer, const dns::DnsQuery& query) {
  auto parsed = dns::parse_dns_response(answer);
  FUZZ_CHECK(parsed.ok());
  FUZZ_CHECK(parsed->header.id == query.header.id);
  FUZZ_CHECK(parsed->questions.size() == 1 && same_question(parsed->questions[0], query.question));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view message = matchlock::fuzz::as_text(data, size);
  auto header = dns::parse_dns_header(message);
  if (!header.ok()) return 0;
  FUZZ_CHECK(dns::parse_dns_header(dns::build_format_error(*header)).ok());

  auto query = dns::parse_dns_query(message);
  if (query.ok()) {
    check_name(query->question.name);
    std::string text = query->question.name.to_text();
    FUZZ_CHECK(!text.empty());

    auto upstream = dns::parse_dns_query(dns::build_dns_query(query->header.id, query->question));
    FUZZ_CHECK(upstream.ok() && same_question(upstream->question, query->question));

    check_answer(dns::build_error_response(*query, dns::Rcode::kNxDomain), *query);
    auto sinkhole = matchlock::net::policy::IpAddress::v4(192, 0, 2, 1);
    check_answer(dns::build_sinkhole_response(*query, sinkhole), *query);
  }

  auto response = dns::parse_dns_response(message);
  if (response.ok()) {
    size_t address_records = 0;
    for (const auto* section :
         {&response->answers, &response->authorities, &response->additionals}) {
      for (const auto& record : *section) {
        check_name(record.name);
        if (record.type == dns::record_type::kA || record.type == dns::record_type::kAaaa) {
          ++address_records;
        }
      }
    }
    FUZZ_CHECK(response->addresses.size() <= address_records);
    for (const auto& q : response->questions) check_name(q.name);
  }
  return 0;
}
