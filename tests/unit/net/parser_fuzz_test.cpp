// Deterministic garbage and mutation fuzzing of every parser that reads guest or upstream
// bytes. Each must return an answer (never crash, hang or over-read: run under ASan to check
// the latter) and keep its output invariants.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>

#include "net/dns/dns_builder.h"
#include "net/dns/dns_parser.h"
#include "net/policy/host_name.h"
#include "net/policy/host_pattern.h"
#include "net/policy/ip_address.h"
#include "net/sniff/classify.h"
#include "net/sniff/http_request_splitter.h"
#include "sniff_test_util.h"

using namespace matchlock::net;

namespace {

constexpr int kRandomInputs = 20000;
constexpr int kMutationsPerSeed = 10000;

// Numerical Recipes LCG: fixed seed, same inputs on every run and platform.
class Lcg {
 public:
  explicit Lcg(uint32_t seed) : state_(seed) {}
  uint32_t next() {
    state_ = state_ * 1664525u + 1013904223u;
    return state_ >> 8;
  }
  size_t below(size_t n) { return n == 0 ? 0 : next() % n; }

  std::string bytes(size_t max_length) {
    std::string out(below(max_length + 1), '\0');
    for (char& c : out) c = static_cast<char>(next());
    return out;
  }
  // Bytes biased towards a protocol's alphabet, so parsers get past their first checks.
  std::string text(size_t max_length, std::string_view alphabet) {
    std::string out(below(max_length + 1), '\0');
    for (char& c : out) c = alphabet[below(alphabet.size())];
    return out;
  }
  // Flips, inserts, deletes, duplicates or truncates a few bytes of `seed`.
  std::string mutate(std::string seed) {
    int edits = 1 + static_cast<int>(below(4));
    for (int i = 0; i < edits && !seed.empty(); ++i) {
      size_t pos = below(seed.size());
      switch (below(6)) {
        case 0:
          seed[pos] = static_cast<char>(next());
          break;
        case 1:
          seed[pos] = static_cast<char>(seed[pos] ^ (1 << below(8)));
          break;
        case 2:
          seed.insert(pos, 1, static_cast<char>(next()));
          break;
        case 3:
          seed.erase(pos, 1 + below(8));
          break;
        case 4:
          seed.insert(pos, seed.substr(pos, below(32)));
          break;
        case 5:
          seed.resize(pos);
          break;
      }
    }
    return seed;
  }

 private:
  uint32_t state_;
};

void check_classification(std::string_view input) {
  sniff::Classification c = sniff::classify(input);
  if (!c.host.empty()) {
    bool is_address = policy::IpAddress::parse(c.host).has_value();
    CHECK((is_address || policy::is_valid_host_name(c.host)));
  }
  if (c.kind == sniff::TrafficKind::kHttp) CHECK(c.http_head.head_size <= input.size());
}

void run_splitter(Lcg& rng, const std::string& stream) {
  sniff::HttpRequestSplitter splitter;
  size_t pos = 0;
  while (pos < stream.size()) {
    size_t piece = 1 + rng.below(64);
    auto events = splitter.feed(std::string_view(stream).substr(pos, piece));
    if (!events.ok()) return;
    pos += piece;
  }
}

void check_dns(std::string_view input) {
  auto query = dns::parse_dns_query(input);
  if (query.ok()) {
    // Anything we parsed must be answerable and the answer must parse back.
    std::string answer = dns::build_sinkhole_response(*query, policy::IpAddress::v4(10, 0, 2, 3));
    CHECK(dns::parse_dns_response(answer).ok());
    CHECK(dns::parse_dns_response(dns::build_error_response(*query, dns::Rcode::kRefused)).ok());
  }
  (void)dns::parse_dns_response(input);
}

const std::string kHttpAlphabet =
    "GETPOSHTP/1.0 \r\n:Host-ContentLngthTransfrEcodingchunked0123456789abcdef;[]*@.";

}  // namespace

TEST_CASE("classify survives random bytes", "[net][fuzz]") {
  Lcg rng(0x5eed0001);
  for (int i = 0; i < kRandomInputs; ++i) {
    check_classification(rng.bytes(256));
    std::string tls_prefixed = std::string("\x16\x03\x01", 3) + rng.bytes(300);
    check_classification(tls_prefixed);
    check_classification(rng.text(300, kHttpAlphabet));
  }
}

TEST_CASE("classify survives mutated ClientHellos and HTTP heads", "[net][fuzz]") {
  Lcg rng(0x5eed0002);
  const std::string hello = test::client_hello("fuzz.example.com", 40);
  const std::string fragmented = test::tls_records(test::client_hello_message("f.example"), 50);
  const std::string http =
      "POST http://a.example:80/x HTTP/1.1\r\nHost: a.example\r\nContent-Length: 4\r\n\r\nbody";
  for (int i = 0; i < kMutationsPerSeed; ++i) {
    check_classification(rng.mutate(hello));
    check_classification(rng.mutate(fragmented));
    check_classification(rng.mutate(http));
  }
}

TEST_CASE("HTTP request splitter survives random and mutated streams", "[net][fuzz]") {
  Lcg rng(0x5eed0003);
  const std::string stream =
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n"
      "PUT / HTTP/1.1\r\nHost: b\r\nContent-Length: 3\r\n\r\nabc"
      "GET /ws HTTP/1.1\r\nHost: c\r\nUpgrade: websocket\r\n\r\nopaque";
  for (int i = 0; i < kMutationsPerSeed; ++i) {
    run_splitter(rng, rng.mutate(stream));
    run_splitter(rng, rng.text(400, kHttpAlphabet));
    run_splitter(rng, rng.bytes(200));
  }
}

TEST_CASE("DNS parsers survive random and mutated messages", "[net][fuzz]") {
  Lcg rng(0x5eed0004);
  dns::DnsQuestion question;
  question.name = *dns::dns_name_from_text("www.fuzz.example.com");
  question.type = dns::record_type::kA;
  question.klass = dns::kClassIn;
  const std::string query = dns::build_dns_query(0x4242, question);
  auto parsed = dns::parse_dns_query(query);
  REQUIRE(parsed.ok());
  const std::string answer =
      dns::build_sinkhole_response(*parsed, policy::IpAddress::v4(1, 2, 3, 4));
  for (int i = 0; i < kRandomInputs; ++i) {
    check_dns(rng.bytes(128));
    // A plausible header followed by garbage reaches the name and record code.
    check_dns(query.substr(0, 12) + rng.bytes(200));
    check_dns(answer.substr(0, 12) + rng.bytes(200));
  }
  for (int i = 0; i < kMutationsPerSeed; ++i) {
    check_dns(rng.mutate(query));
    check_dns(rng.mutate(answer));
  }
}

TEST_CASE("host patterns and authorities survive random text", "[net][fuzz]") {
  Lcg rng(0x5eed0005);
  constexpr char kAlphabet[] = "abcXYZ019-_.*:[]@% \t\x00\xff";
  const std::string alphabet(kAlphabet, sizeof(kAlphabet) - 1);
  auto star = policy::HostPattern::parse("*.example.com");
  REQUIRE(star.ok());
  for (int i = 0; i < kRandomInputs; ++i) {
    std::string text = rng.text(80, alphabet);
    auto pattern = policy::HostPattern::parse(text);
    if (pattern.ok()) {
      CHECK_FALSE(pattern->text().empty());
      (void)pattern->matches(rng.text(80, alphabet));
    }
    (void)star->matches(text);
    auto host = policy::host_from_authority(text);
    if (host) {
      CHECK((policy::IpAddress::parse(*host) || policy::is_valid_host_name(*host)));
    }
    (void)policy::IpAddress::parse(rng.bytes(60));
  }
}
