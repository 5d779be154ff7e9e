#include <catch2/catch.hpp>

#include "net/sniff/classify.h"
#include "net/sniff/tls_client_hello.h"
#include "sniff_test_util.h"

using namespace matchlock::net::sniff;
using matchlock::net::test::client_hello;
using matchlock::net::test::client_hello_message;
using matchlock::net::test::tls_records;
using Status = TlsClientHelloResult::Status;

TEST_CASE("ClientHello with SNI gives the lowercased server name", "[net][sniff][tls]") {
  auto result = parse_tls_client_hello(client_hello("API.Example.com."));
  CHECK(result.status == Status::kClientHello);
  CHECK(result.server_name == "api.example.com");

  Classification c = classify(client_hello("api.example.com"));
  CHECK(c.kind == TrafficKind::kTls);
  CHECK(c.host == "api.example.com");
}

TEST_CASE("ClientHello without SNI is TLS with an empty host", "[net][sniff][tls]") {
  Classification c = classify(client_hello(""));
  CHECK(c.kind == TrafficKind::kTls);
  CHECK(c.host.empty());
}

TEST_CASE("ClientHello split over many reads needs more until complete", "[net][sniff][tls]") {
  std::string hello = client_hello("split.example.com", 600);
  for (size_t n = 0; n < hello.size(); ++n) {
    INFO("prefix " << n);
    REQUIRE(classify(hello.substr(0, n)).kind == TrafficKind::kNeedMore);
  }
  Classification c = classify(hello);
  CHECK(c.kind == TrafficKind::kTls);
  CHECK(c.host == "split.example.com");
}

TEST_CASE("ClientHello fragmented over several TLS records is reassembled", "[net][sniff][tls]") {
  std::string message = client_hello_message("frag.example.com", 300);
  for (size_t fragment : {1u, 7u, 100u, 256u}) {
    std::string records = tls_records(message, fragment);
    INFO("fragment " << fragment);
    CHECK(classify(records.substr(0, records.size() - 1)).kind == TrafficKind::kNeedMore);
    Classification c = classify(records);
    CHECK(c.kind == TrafficKind::kTls);
    CHECK(c.host == "frag.example.com");
  }
}

TEST_CASE("ClientHello larger than the cap is TLS without a host", "[net][sniff][tls]") {
  std::string hello = client_hello("big.example.com", kMaxClientHelloBytes);
  auto result = parse_tls_client_hello(hello);
  CHECK(result.status == Status::kTooLarge);
  Classification c = classify(hello);
  CHECK(c.kind == TrafficKind::kTls);
  CHECK(c.host.empty());
  // The declared length alone is enough to give up early.
  CHECK(parse_tls_client_hello(hello.substr(0, 100)).status == Status::kTooLarge);
}

TEST_CASE("bytes after the ClientHello do not disturb parsing", "[net][sniff][tls]") {
  std::string bytes = client_hello("x.example.com") + std::string("\x14\x03\x03\x00\x01\x01", 6);
  CHECK(classify(bytes).host == "x.example.com");
}

TEST_CASE("TLS-looking garbage is raw", "[net][sniff][tls]") {
  CHECK(classify(std::string("\x16\x02", 2)).kind == TrafficKind::kRaw);  // SSLv2-ish version
  CHECK(classify(std::string("\x16\x03\x01\x00\x00", 5)).kind == TrafficKind::kRaw);
  std::string server_hello = client_hello("a.com");
  server_hello[5] = 0x02;  // handshake type ServerHello
  CHECK(classify(server_hello).kind == TrafficKind::kRaw);
}

TEST_CASE("SNI that is not a valid host name is refused", "[net][sniff][tls]") {
  for (std::string bad :
       {std::string("a\0b.com", 7), std::string("a b.com"), std::string(300, 'a')}) {
    auto result = parse_tls_client_hello(client_hello(bad));
    CHECK(result.status == Status::kNotTls);
  }
}

TEST_CASE("duplicate server_name extensions are refused", "[net][sniff][tls]") {
  // Append a second server_name extension by hand to a hello without padding.
  std::string message = client_hello_message("one.example.com");
  std::string extra;
  matchlock::net::test::put_u16(extra, 0);
  matchlock::net::test::put_u16(extra, 2 + 3 + 15);
  matchlock::net::test::put_u16(extra, 3 + 15);
  matchlock::net::test::put_u8(extra, 0);
  matchlock::net::test::put_u16(extra, 15);
  extra += "two.example.com";
  // Patch the extensions length (last 2 bytes before extensions) and the handshake length.
  size_t ext_len_pos = 4 + 2 + 32 + 1 + 32 + 2 + 4 + 1 + 1;
  size_t ext_len = (static_cast<uint8_t>(message[ext_len_pos]) << 8) |
                   static_cast<uint8_t>(message[ext_len_pos + 1]);
  ext_len += extra.size();
  message[ext_len_pos] = static_cast<char>(ext_len >> 8);
  message[ext_len_pos + 1] = static_cast<char>(ext_len);
  message += extra;
  size_t body = message.size() - 4;
  message[1] = static_cast<char>(body >> 16);
  message[2] = static_cast<char>(body >> 8);
  message[3] = static_cast<char>(body);
  CHECK(classify(tls_records(message)).kind == TrafficKind::kRaw);
}
