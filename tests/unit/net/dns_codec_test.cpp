#include <catch2/catch.hpp>

#include "net/dns/dns_builder.h"
#include "net/dns/dns_parser.h"
#include "net/policy/dns_rebinding.h"

using namespace matchlock::net::dns;
using matchlock::ErrorCode;
using matchlock::net::policy::IpAddress;
using matchlock::net::policy::PrivateRangePolicy;

namespace {

DnsQuestion question(const char* name, uint16_t type = record_type::kA) {
  DnsQuestion q;
  q.name = *dns_name_from_text(name);
  q.type = type;
  q.klass = kClassIn;
  return q;
}

void put_u16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

// A response to "a.example.com A" whose answers are given as (type, rdata) with names
// compressed to the question.
std::string response_with(const std::vector<std::pair<uint16_t, std::string>>& answers) {
  std::string out;
  put_u16(out, 0x1234);
  put_u16(out, 0x8180);
  put_u16(out, 1);
  put_u16(out, static_cast<uint16_t>(answers.size()));
  put_u16(out, 0);
  put_u16(out, 0);
  out += std::string(
      "\x01"
      "a\x07"
      "example\x03"
      "com\x00",
      15);
  put_u16(out, 1);
  put_u16(out, 1);
  for (const auto& [type, rdata] : answers) {
    put_u16(out, 0xc00c);
    put_u16(out, type);
    put_u16(out, 1);
    put_u16(out, 0);
    put_u16(out, 60);
    put_u16(out, static_cast<uint16_t>(rdata.size()));
    out += rdata;
  }
  return out;
}

}  // namespace

TEST_CASE("query round-trips through the builder and parser", "[net][dns]") {
  std::string wire = build_dns_query(0xbeef, question("Api.Example.COM"), 1232);
  auto query = parse_dns_query(wire);
  REQUIRE(query.ok());
  CHECK(query->header.id == 0xbeef);
  CHECK(query->header.recursion_desired());
  CHECK(query->question.name.to_text() == "Api.Example.COM");
  CHECK(query->question.type == record_type::kA);
  CHECK(query->edns_udp_payload_size == 1232);
  CHECK_FALSE(parse_dns_query(build_dns_query(1, question("a.b"), std::nullopt))
                  ->edns_udp_payload_size.has_value());
}

TEST_CASE("sinkhole answer round-trips and preserves the question", "[net][dns]") {
  auto query = parse_dns_query(build_dns_query(77, question("blocked.Example.org")));
  REQUIRE(query.ok());
  std::string wire = build_sinkhole_response(*query, IpAddress::v4(10, 0, 2, 3));
  auto response = parse_dns_response(wire);
  REQUIRE(response.ok());
  CHECK(response->header.id == 77);
  CHECK(response->header.rcode() == 0);
  CHECK(response->header.recursion_desired());
  REQUIRE(response->questions.size() == 1);
  CHECK(response->questions[0].name.to_text() == "blocked.Example.org");  // case echoed
  REQUIRE(response->answers.size() == 1);
  CHECK(response->answers[0].name.to_text() == "blocked.Example.org");
  CHECK(response->answers[0].ttl == kSinkholeTtlSeconds);
  CHECK(response->addresses == std::vector<IpAddress>{IpAddress::v4(10, 0, 2, 3)});
}

TEST_CASE("sinkhole for AAAA and other types is an empty NOERROR answer", "[net][dns]") {
  for (uint16_t type : {record_type::kAaaa, uint16_t{16}}) {
    auto query = parse_dns_query(build_dns_query(5, question("x.com", type)));
    auto response = parse_dns_response(build_sinkhole_response(*query, IpAddress::v4(1, 2, 3, 4)));
    REQUIRE(response.ok());
    CHECK(response->header.rcode() == 0);
    CHECK(response->answers.empty());
  }
}

TEST_CASE("NXDOMAIN and REFUSED answers echo id and question", "[net][dns]") {
  auto query = parse_dns_query(build_dns_query(9, question("nope.example")));
  for (Rcode rcode : {Rcode::kNxDomain, Rcode::kRefused, Rcode::kServFail}) {
    auto response = parse_dns_response(build_error_response(*query, rcode));
    REQUIRE(response.ok());
    CHECK(response->header.id == 9);
    CHECK(response->header.rcode() == static_cast<uint8_t>(rcode));
    CHECK(response->questions[0].name.to_text() == "nope.example");
    CHECK(response->answers.empty());
  }
  auto header = parse_dns_header(build_format_error(query->header));
  CHECK(header->rcode() == static_cast<uint8_t>(Rcode::kFormErr));
}

TEST_CASE("A and AAAA answers are extracted, other types skipped", "[net][dns]") {
  std::string v6(16, '\0');
  v6[0] = static_cast<char>(0x20);
  v6[1] = 0x01;
  v6[15] = 1;
  auto response =
      parse_dns_response(response_with({{record_type::kCname, std::string("\x01"
                                                                          "b\xc0\x0e",
                                                                          4)},
                                        {record_type::kA, std::string("\x5d\xb8\xd8\x22", 4)},
                                        {record_type::kAaaa, v6}}));
  REQUIRE(response.ok());
  REQUIRE(response->addresses.size() == 2);
  CHECK(response->addresses[0] == IpAddress::v4(93, 184, 216, 34));
  CHECK(response->addresses[1].to_string() == "2001::1");
}

TEST_CASE("answer pointing into a private range is detected (rebinding)", "[net][dns]") {
  PrivateRangePolicy ranges;
  auto safe = parse_dns_response(response_with({{record_type::kA, "\x08\x08\x08\x08"}}));
  CHECK_FALSE(first_blocked_answer(*safe, ranges).has_value());
  auto rebinding =
      parse_dns_response(response_with({{record_type::kA, "\x08\x08\x08\x08"},
                                        {record_type::kA, std::string("\x7f\x00\x00\x01", 4)}}));
  CHECK(first_blocked_answer(*rebinding, ranges) == IpAddress::v4(127, 0, 0, 1));
  std::string mapped(16, '\0');
  mapped[10] = mapped[11] = static_cast<char>(0xff);
  mapped[12] = 10;
  auto v6 = parse_dns_response(response_with({{record_type::kAaaa, mapped}}));
  CHECK(first_blocked_answer(*v6, ranges).has_value());
}

TEST_CASE("A record with a wrong length is rejected", "[net][dns]") {
  CHECK_FALSE(parse_dns_response(response_with({{record_type::kA, "\x01\x02\x03"}})).ok());
  CHECK_FALSE(parse_dns_response(response_with({{record_type::kAaaa, "\x01\x02\x03\x04"}})).ok());
}

TEST_CASE("DNS compression loop is rejected", "[net][dns]") {
  // Answer name is a pointer to itself.
  std::string self = response_with({{record_type::kA, "\x01\x02\x03\x04"}});
  size_t answer_name = 12 + 15 + 4;
  self[answer_name] = static_cast<char>(0xc0);
  self[answer_name + 1] = static_cast<char>(answer_name);
  auto r = parse_dns_response(self);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::kProtocol);

  // Two names pointing at each other; and a forward pointer.
  std::string query = build_dns_query(1, question("a.com"), std::nullopt);
  query[12] = static_cast<char>(0xc0);
  query[13] = 14;  // forward
  CHECK_FALSE(parse_dns_query(query).ok());
  query[13] = 12;  // self
  CHECK_FALSE(parse_dns_query(query).ok());
}

TEST_CASE("truncated DNS messages are rejected at every length", "[net][dns]") {
  std::string full = response_with({{record_type::kA, "\x01\x02\x03\x04"}});
  REQUIRE(parse_dns_response(full).ok());
  for (size_t n = 0; n < full.size(); ++n) {
    INFO("length " << n);
    CHECK_FALSE(parse_dns_response(full.substr(0, n)).ok());
  }
  std::string query = build_dns_query(1, question("a.example.com"));
  for (size_t n = 0; n < query.size(); ++n) CHECK_FALSE(parse_dns_query(query.substr(0, n)).ok());
}

TEST_CASE("labels over 63 and names over 255 bytes are rejected", "[net][dns]") {
  std::string header("\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12);
  std::string long_label =
      header + "\x40" + std::string(64, 'a') + std::string("\x00\x00\x01\x00\x01", 5);
  CHECK_FALSE(parse_dns_query(long_label).ok());
  std::string name;
  for (int i = 0; i < 5; ++i) name += "\x3f" + std::string(63, 'a');  // 320 bytes
  CHECK_FALSE(parse_dns_query(header + name + std::string("\x00\x00\x01\x00\x01", 5)).ok());
  CHECK_FALSE(dns_name_from_text(std::string(64, 'a') + ".com").ok());
  CHECK_FALSE(dns_name_from_text("a..com").ok());
}

TEST_CASE("query shape is enforced", "[net][dns]") {
  std::string query = build_dns_query(1, question("a.com"), std::nullopt);
  std::string response_bit = query;
  response_bit[2] = static_cast<char>(0x81);
  CHECK_FALSE(parse_dns_query(response_bit).ok());
  std::string two_questions = query;
  two_questions[5] = 2;
  CHECK_FALSE(parse_dns_query(two_questions).ok());
  CHECK_FALSE(parse_dns_response(query).ok());  // a query is not a response
}

TEST_CASE("label bytes outside letters, digits, hyphen, underscore are escaped", "[net][dns]") {
  DnsName name;
  name.labels = {"a.b", std::string("c\0d", 3), "E_f-1"};
  CHECK(name.to_text() == "a\\046b.c\\000d.E_f-1");
  CHECK(DnsName{}.to_text() == ".");
}
