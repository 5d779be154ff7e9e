#include <openssl/x509v3.h>
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "net/tls/leaf_cache.h"
#include "net/tls/server_name.h"
#include "tls_test_util.h"

using namespace matchlock;
using namespace matchlock::net::tls;
using matchlock::net::test::make_test_ca;

namespace {

// Verifies `leaf` the way an upstream-style client would: chain to `ca` only, TLS server
// purpose, and (when given) the host name or IP.
int verify_leaf(const CertificateAuthority& ca, X509& leaf, const std::string& host,
                const std::string& ip = "") {
  X509StorePtr store(X509_STORE_new());
  REQUIRE(X509_STORE_add_cert(store.get(), &ca.certificate()) == 1);
  X509StoreCtxPtr context(X509_STORE_CTX_new());
  REQUIRE(X509_STORE_CTX_init(context.get(), store.get(), &leaf, nullptr) == 1);
  REQUIRE(X509_STORE_CTX_set_purpose(context.get(), X509_PURPOSE_SSL_SERVER) == 1);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(context.get());
  if (!host.empty()) REQUIRE(X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size()) == 1);
  if (!ip.empty()) REQUIRE(X509_VERIFY_PARAM_set1_ip_asc(param, ip.c_str()) == 1);
  int ok = X509_verify_cert(context.get());
  int error = X509_STORE_CTX_get_error(context.get());
  ERR_clear_error();
  return ok == 1 ? X509_V_OK : (error == X509_V_OK ? -1 : error);
}

// The GENERAL_NAME types of the certificate's subjectAltName entries.
std::vector<int> san_types(X509& certificate) {
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(&certificate, NID_subject_alt_name, nullptr, nullptr)));
  std::vector<int> types;
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    types.push_back(sk_GENERAL_NAME_value(names.get(), i)->type);
  }
  return types;
}

std::shared_ptr<const LeafCertificate> leaf(LeafCache& cache, const std::string& name) {
  auto result = cache.leaf_for(name);
  REQUIRE(result.ok());
  return *result;
}

}  // namespace

TEST_CASE("minted leaf verifies against the CA for its name and not for another", "[net][tls]") {
  auto ca = make_test_ca();
  LeafCache cache(ca);
  auto minted = leaf(cache, "api.example.com");
  X509& cert = *minted->certificate;

  CHECK(verify_leaf(*ca, cert, "api.example.com") == X509_V_OK);
  CHECK(verify_leaf(*ca, cert, "other.example.com") == X509_V_ERR_HOSTNAME_MISMATCH);
  CHECK(san_types(cert) == std::vector<int>{GEN_DNS});
  CHECK(X509_check_host(&cert, "api.example.com", 0, 0, nullptr) == 1);
  CHECK(X509_check_host(&cert, "example.com", 0, 0, nullptr) == 0);
  CHECK(X509_check_host(&cert, "evil.example.com", 0, 0, nullptr) == 0);

  // Another sandbox's CA does not vouch for it.
  auto stranger = make_test_ca("sbx-other");
  CHECK(verify_leaf(*stranger, cert, "api.example.com") != X509_V_OK);
}

TEST_CASE("minted leaf is an ECDSA P-256 server certificate signed with SHA-256", "[net][tls]") {
  auto ca = make_test_ca();
  LeafCache cache(ca);
  auto minted = leaf(cache, "api.example.com");
  X509& cert = *minted->certificate;

  CHECK(X509_get_version(&cert) == X509_VERSION_3);
  CHECK(X509_check_ca(&cert) == 0);
  CHECK(EVP_PKEY_get_base_id(minted->key.get()) == EVP_PKEY_EC);
  CHECK(EVP_PKEY_get_bits(minted->key.get()) == 256);
  CHECK(X509_check_private_key(&cert, minted->key.get()) == 1);
  CHECK(X509_get_signature_nid(&cert) == NID_ecdsa_with_SHA256);
  CHECK((X509_get_extended_key_usage(&cert) & XKU_SSL_SERVER) != 0);
  CHECK(X509_get_key_usage(&cert) == KU_DIGITAL_SIGNATURE);
  const ASN1_OCTET_STRING* authority_key = X509_get0_authority_key_id(&cert);
  REQUIRE(authority_key != nullptr);
  CHECK(ASN1_OCTET_STRING_cmp(authority_key, X509_get0_subject_key_id(&ca->certificate())) == 0);
  CHECK(ASN1_TIME_compare(X509_get0_notAfter(&cert), X509_get0_notAfter(&ca->certificate())) == 0);
  CHECK(X509_cmp_current_time(X509_get0_notBefore(&cert)) < 0);
  CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(&cert),
                         X509_get0_serialNumber(&ca->certificate())) != 0);
}

TEST_CASE("ip literal server name gets an IP SAN and no DNS SAN", "[net][tls]") {
  auto ca = make_test_ca();
  LeafCache cache(ca);
  auto v4 = leaf(cache, "192.0.2.7");
  CHECK(verify_leaf(*ca, *v4->certificate, "", "192.0.2.7") == X509_V_OK);
  CHECK(verify_leaf(*ca, *v4->certificate, "", "192.0.2.8") == X509_V_ERR_IP_ADDRESS_MISMATCH);
  CHECK(san_types(*v4->certificate) == std::vector<int>{GEN_IPADD});

  auto v6 = leaf(cache, "2001:DB8::1");
  CHECK(verify_leaf(*ca, *v6->certificate, "", "2001:db8::1") == X509_V_OK);
}

TEST_CASE("leaf cache returns the same leaf for the same normalized name", "[net][tls]") {
  LeafCache cache(make_test_ca());
  auto first = leaf(cache, "api.example.com");
  CHECK(leaf(cache, "api.example.com") == first);
  CHECK(leaf(cache, "API.Example.COM.") == first);
  CHECK(leaf(cache, "other.example.com") != first);
  CHECK(cache.size() == 2);
}

TEST_CASE("leaf cache is bounded and evicts the least recently used leaf", "[net][tls]") {
  LeafCache cache(make_test_ca(), 3);
  auto a = leaf(cache, "a.example");
  auto b = leaf(cache, "b.example");
  auto c = leaf(cache, "c.example");
  CHECK(leaf(cache, "a.example") == a);  // a is now the most recently used
  auto d = leaf(cache, "d.example");     // evicts b
  CHECK(cache.size() == 3);
  CHECK(leaf(cache, "a.example") == a);
  CHECK(leaf(cache, "d.example") == d);
  CHECK(leaf(cache, "b.example") != b);  // minted afresh
  CHECK(cache.size() == 3);
  // An evicted leaf stays usable by whoever still holds it.
  CHECK(X509_check_host(b->certificate.get(), "b.example", 0, 0, nullptr) == 1);

  for (int i = 0; i < 20; ++i) leaf(cache, "n" + std::to_string(i) + ".example");
  CHECK(cache.size() == 3);
}

TEST_CASE("hostile server names are refused and mint nothing", "[net][tls]") {
  LeafCache cache(make_test_ca());
  const std::string hostile[] = {
      "",
      std::string(254, 'a'),
      std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
          std::string(63, 'd'),                   // 255 characters
      "a." + std::string(64, 'b') + ".example",   // label over 63
      std::string("evil.com\0.example.com", 21),  // NUL inside
      "evil.com,DNS:*.example.com",               // would be two SAN entries in config syntax
      "*.example.com",
      "exa mple.com",
      "example.com/path",
      "user@example.com",
      "example..com",
      ".",
      "b\xc3\xbc"
      "cher.de",  // non-ASCII
      "example.com:443",
      "[::1",
  };
  for (const auto& name : hostile) {
    INFO("name: " << name);
    auto result = cache.leaf_for(name);
    REQUIRE(!result.ok());
    CHECK(result.error().code == ErrorCode::kInvalidArgument);
    CHECK(result.error().message.find("TLS server name") != std::string::npos);
  }
  CHECK(cache.size() == 0);
}

TEST_CASE("server names at the limits are accepted", "[net][tls]") {
  std::string longest = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                        std::string(63, 'c') + "." + std::string(61, 'd');
  REQUIRE(longest.size() == 253);
  auto name = parse_server_name(longest + ".");
  REQUIRE(name.ok());
  CHECK(name->text == longest);
  CHECK(!name->ip);
  CHECK(parse_server_name("_dmarc.example.com").ok());
  auto ip = parse_server_name("::ffff:10.0.0.1");
  REQUIRE(ip.ok());
  CHECK(ip->text == "10.0.0.1");
  CHECK(ip->ip.has_value());

  // The longest name still gets a leaf (its CN is omitted: it does not fit in 64 characters).
  LeafCache cache(make_test_ca());
  auto minted = cache.leaf_for(longest);
  REQUIRE(minted.ok());
  CHECK(X509_check_host((*minted)->certificate.get(), longest.c_str(), 0, 0, nullptr) == 1);
}
