// The pieces every certificate net/tls mints shares: an ECDSA P-256 key, a random serial,
// validity, and extensions written from our own fixed text. Guest-chosen text never goes
// through add_fixed_extension (its value is parsed as OpenSSL config syntax, where a ',' would
// start another entry); names from the guest are added as typed values by LeafCache.
#pragma once

#include <chrono>

#include "core/result.h"
#include "net/tls/openssl_handles.h"

namespace matchlock::net::tls {

// Clock skew between host and guest (a guest clock a little ahead of or behind ours) must not
// make a fresh certificate "not yet valid".
constexpr std::chrono::seconds kBackdate = std::chrono::hours(1);

// ECDSA P-256: a leaf is minted per new server name on the handshake path, and a P-256 key
// costs well under a millisecond where RSA-2048 costs hundreds; every TLS client supports it.
Result<EvpPkeyPtr> generate_p256_key();

// A new v3 certificate for `key`, with a random 128-bit serial (16 octets, positive, 126 random
// bits; RFC 5280 allows up to 20 octets, and randomness keeps serials unique without state),
// valid from now - kBackdate until `not_after_days` days from now.
Result<X509Ptr> new_v3_certificate(EVP_PKEY& key, long not_after_days);

// Adds one extension from a fixed config string (e.g. "critical,CA:TRUE,pathlen:0");
// `issuer` supplies the issuer key for authorityKeyIdentifier ("keyid:always").
Status add_fixed_extension(X509& certificate, X509& issuer, int nid, const char* value);

}  // namespace matchlock::net::tls
