// Leaf certificates for the servers the guest connects to, minted on demand from the sandbox's
// CA and kept for the CA's life, so each name costs one P-256 key and one signature once.
//
// THREAT MODEL: the guest picks the names (SNI), so it picks what gets minted and cached. Each
// name is validated (net/tls/server_name.h) before any work is done; a refused name mints and
// caches nothing. The cache is bounded (least recently used leaf evicted first), so a guest
// cycling through random names costs it CPU time, not our memory. The CA key never leaves the
// CA: leaves are signed through CertificateAuthority::sign_leaf.
#pragma once

#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/result.h"
#include "net/tls/certificate_authority.h"
#include "net/tls/openssl_handles.h"

namespace matchlock::net::tls {

// Far more names than one agent session talks to; ~1-2 KiB each when full.
constexpr size_t kDefaultLeafCacheCapacity = 4096;

// A certificate and its private key, presented to the guest for one server name. Immutable
// once minted; shared so an evicted leaf stays valid for a handshake still using it.
struct LeafCertificate {
  X509Ptr certificate;
  EvpPkeyPtr key;
};

class LeafCache {
 public:
  explicit LeafCache(std::shared_ptr<const CertificateAuthority> ca,
                     size_t capacity = kDefaultLeafCacheCapacity);

  // The leaf for `server_name`: a host name (SAN DNS:<name>) or an IP literal (SAN IP:<addr>),
  // normalized first, so "Example.COM." and "example.com" share one leaf. kInvalidArgument for
  // a name parse_server_name refuses. Safe to call from several threads.
  Result<std::shared_ptr<const LeafCertificate>> leaf_for(std::string_view server_name);

  size_t size() const;
  size_t capacity() const { return capacity_; }
  const CertificateAuthority& authority() const { return *ca_; }

 private:
  using Entry = std::pair<std::string, std::shared_ptr<const LeafCertificate>>;

  std::shared_ptr<const CertificateAuthority> ca_;
  size_t capacity_;
  mutable std::mutex mutex_;
  std::list<Entry> recent_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> by_name_;
};

}  // namespace matchlock::net::tls
