#include "net/tls/openssl_error.h"

#include <openssl/err.h>

#include <array>

namespace matchlock::net::tls {

Error openssl_error(const std::string& what) {
  std::string reasons;
  while (unsigned long code = ERR_get_error()) {
    std::array<char, 256> text{};
    ERR_error_string_n(code, text.data(), text.size());
    if (!reasons.empty()) reasons += "; ";
    reasons += text.data();
  }
  if (reasons.empty()) reasons = "no OpenSSL reason given";
  return Error(ErrorCode::kInternal, what + ": " + reasons);
}

void clear_openssl_errors() {
  ERR_clear_error();
}

}  // namespace matchlock::net::tls
