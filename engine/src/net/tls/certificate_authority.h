// The per-sandbox certificate authority behind TLS interception: the guest trusts it (its
// certificate is added to the guest's trust store), and it signs the leaf certificates the
// engine presents to the guest in place of the real servers'.
//
// THREAT MODEL: whoever holds the CA's private key can impersonate any server to this
// sandbox's guest. The key is generated in the owner process's memory when the sandbox starts
// and never leaves it: there is no API that returns, exports or serializes it; signing happens
// inside this class (sign_leaf). One CA per sandbox, so a key that did leak would expose only
// the sandbox it belongs to, and only until it is closed. The guest gets the certificate alone
// (certificate_pem).
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"
#include "net/tls/openssl_handles.h"

namespace matchlock::net::tls {

// Long enough for any sandbox session; leaves never outlive the CA that signs them.
constexpr long kDefaultCaValidityDays = 365;

class CertificateAuthority {
 public:
  // A fresh ECDSA P-256 key and a self-signed v3 CA certificate naming matchlock and
  // `sandbox_id` (printable ASCII, non-empty; the common name must fit in 64 characters).
  static Result<CertificateAuthority> create(std::string_view sandbox_id,
                                             long validity_days = kDefaultCaValidityDays);

  CertificateAuthority(CertificateAuthority&&) = default;
  CertificateAuthority& operator=(CertificateAuthority&&) = default;

  // The CA certificate only, PEM-encoded, for the guest's trust store.
  Result<std::string> certificate_pem() const;

  // The CA certificate (owned by this object), for issuer names and trust stores.
  X509& certificate() const { return *certificate_; }

  // Sets `leaf`'s issuer and authorityKeyIdentifier to this CA and signs it (SHA-256). The
  // leaf's public key and other fields must already be in place.
  Status sign_leaf(X509& leaf) const;

 private:
  CertificateAuthority(EvpPkeyPtr key, X509Ptr certificate)
      : key_(std::move(key)), certificate_(std::move(certificate)) {}

  EvpPkeyPtr key_;
  X509Ptr certificate_;
};

}  // namespace matchlock::net::tls
