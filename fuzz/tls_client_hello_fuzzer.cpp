// The TLS ClientHello sniffer (engine/src/net/sniff/tls_client_hello.cpp): the SNI that decides
// which host a guest connection is for.
// Invariants: an SNI is a normalized, valid host name; bytes after a complete hello change
// nothing; a verdict of "not TLS" stays so whatever follows.
#include <string>

#include "fuzz_check.h"
#include "host_check.h"
#include "net/sniff/tls_client_hello.h"

namespace sniff = matchlock::net::sniff;
using Status = sniff::TlsClientHelloResult::Status;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes = matchlock::fuzz::as_text(data, size);
  auto result = sniff::parse_tls_client_hello(bytes);
  if (result.status != Status::kClientHello) FUZZ_CHECK(result.server_name.empty());
  if (!result.server_name.empty()) {
    FUZZ_CHECK(matchlock::net::policy::is_valid_host_name(result.server_name));
  }

  if (result.status == Status::kClientHello || result.status == Status::kNotTls) {
    std::string longer(bytes);
    longer.append("\x16\x03\x01\x00\x05garbage", 12);
    auto again = sniff::parse_tls_client_hello(longer);
    FUZZ_CHECK(again.status == result.status && again.server_name == result.server_name);
  }
  return 0;
}
