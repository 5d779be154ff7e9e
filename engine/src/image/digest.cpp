#include "image/digest.h"

#include <stdexcept>

namespace matchlock::image {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  // Allocation failure or a missing SHA-256 provider is not recoverable here.
  if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("sha256: EVP init failed");
  }
}

void Sha256::update(const void* data, size_t len) {
  if (len > 0) EVP_DigestUpdate(ctx_.get(), data, len);
}

std::string Sha256::finish() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx_.get(), md, &n);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(kSha256Prefix);
  for (unsigned int i = 0; i < n; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

std::string sha256_digest(std::string_view data) {
  Sha256 h;
  h.update(data.data(), data.size());
  return h.finish();
}

bool is_sha256_digest(std::string_view digest) {
  if (digest.size() != kSha256Prefix.size() + 64 || !digest.starts_with(kSha256Prefix)) {
    return false;
  }
  for (char c : digest.substr(kSha256Prefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace matchlock::image
