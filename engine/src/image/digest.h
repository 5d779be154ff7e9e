// SHA-256 content digests ("sha256:<64 lowercase hex>") for the content-addressed store.
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace matchlock::image {

inline constexpr std::string_view kSha256Prefix = "sha256:";

// Incremental SHA-256 over OpenSSL EVP.
class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t len);
  // "sha256:<hex>"; the hasher must not be used afterwards.
  std::string finish();

 private:
  struct CtxFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, CtxFree> ctx_;
};

std::string sha256_digest(std::string_view data);
// True for "sha256:" followed by exactly 64 lowercase hex digits.
bool is_sha256_digest(std::string_view digest);
// The hex part of a valid digest (caller validated it).
inline std::string digest_hex(std::string_view digest) {
  return std::string(digest.substr(kSha256Prefix.size()));
}

}  // namespace matchlock::image
