#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <catch2/catch.hpp>

#include <ctime>
#include <string>

#include "net/tls/certificate_authority.h"
#include "tls_test_util.h"

using namespace matchlock;
using namespace matchlock::net::tls;
using matchlock::net::test::make_test_ca;

namespace {

bool extension_is_critical(X509& certificate, int nid) {
  int index = X509_get_ext_by_NID(&certificate, nid, -1);
  REQUIRE(index >= 0);
  return X509_EXTENSION_get_critical(X509_get_ext(&certificate, index)) == 1;
}

std::string subject_common_name(X509& certificate) {
  char text[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(&certificate), NID_commonName, text, sizeof text);
  return text;
}

// Seconds from now to `when` (negative: in the past).
long long seconds_from_now(const ASN1_TIME* when) {
  int days = 0;
  int seconds = 0;
  REQUIRE(ASN1_TIME_diff(&days, &seconds, nullptr, when) == 1);
  return static_cast<long long>(days) * 86400 + seconds;
}

}  // namespace

TEST_CASE("ca certificate is a self-signed CA that may sign leaves only", "[net][tls]") {
  auto ca = make_test_ca("sbx-1234");
  X509& cert = ca->certificate();

  CHECK(X509_get_version(&cert) == X509_VERSION_3);
  CHECK(X509_check_ca(&cert) == 1);
  CHECK(X509_get_pathlen(&cert) == 0);
  CHECK(extension_is_critical(cert, NID_basic_constraints));
  CHECK(X509_get_key_usage(&cert) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  CHECK(extension_is_critical(cert, NID_key_usage));
  CHECK(X509_get0_subject_key_id(&cert) != nullptr);
  CHECK(X509_check_issued(&cert, &cert) == X509_V_OK);
  CHECK(X509_verify(&cert, X509_get0_pubkey(&cert)) == 1);
  CHECK(X509_get_signature_nid(&cert) == NID_ecdsa_with_SHA256);

  std::string common_name = subject_common_name(cert);
  CHECK(common_name.find("matchlock") != std::string::npos);
  CHECK(common_name.find("sbx-1234") != std::string::npos);
}

TEST_CASE("ca key is ECDSA P-256 and the serial a random 128-bit number", "[net][tls]") {
  auto first = make_test_ca();
  auto second = make_test_ca();
  EVP_PKEY* key = X509_get0_pubkey(&first->certificate());
  CHECK(EVP_PKEY_get_base_id(key) == EVP_PKEY_EC);
  char group[64] = {};
  REQUIRE(EVP_PKEY_get_group_name(key, group, sizeof group, nullptr) == 1);
  CHECK(std::string(group) == "prime256v1");

  const ASN1_INTEGER* serial = X509_get0_serialNumber(&first->certificate());
  net::tls::BignumPtr number(ASN1_INTEGER_to_BN(serial, nullptr));
  CHECK(BN_num_bits(number.get()) == 127);  // 16 octets, positive, top bit forced clear
  CHECK(ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(&second->certificate())) != 0);
  CHECK(EVP_PKEY_eq(key, X509_get0_pubkey(&second->certificate())) != 1);
}

TEST_CASE("ca validity starts an hour back and lasts the requested days", "[net][tls]") {
  auto ca = CertificateAuthority::create("sbx-validity", 30);
  REQUIRE(ca.ok());
  long long not_before = seconds_from_now(X509_get0_notBefore(&ca->certificate()));
  long long not_after = seconds_from_now(X509_get0_notAfter(&ca->certificate()));
  CHECK(not_before <= -3590);
  CHECK(not_before >= -3610);
  CHECK(not_after >= 30LL * 86400 - 10);
  CHECK(not_after <= 30LL * 86400 + 10);
}

TEST_CASE("ca pem export holds the certificate and no private key", "[net][tls]") {
  auto ca = make_test_ca();
  auto pem = ca->certificate_pem();
  REQUIRE(pem.ok());
  CHECK(pem->find("-----BEGIN CERTIFICATE-----") == 0);
  CHECK(pem->find("-----BEGIN", 1) == std::string::npos);  // exactly one PEM block
  CHECK(pem->find("PRIVATE") == std::string::npos);
  CHECK(pem->find("KEY") == std::string::npos);

  BioPtr reader(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  X509Ptr parsed(PEM_read_bio_X509(reader.get(), nullptr, nullptr, nullptr));
  REQUIRE(parsed);
  CHECK(X509_cmp(parsed.get(), &ca->certificate()) == 0);

  BioPtr key_reader(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(key_reader.get(), nullptr, nullptr, nullptr));
  CHECK(!key);
  ERR_clear_error();
}

TEST_CASE("ca refuses an unusable sandbox id or validity", "[net][tls]") {
  CHECK(CertificateAuthority::create("").error().code == ErrorCode::kInvalidArgument);
  CHECK(CertificateAuthority::create(std::string(60, 'a')).error().code ==
        ErrorCode::kInvalidArgument);
  CHECK(CertificateAuthority::create("bad\nid").error().code == ErrorCode::kInvalidArgument);
  CHECK(CertificateAuthority::create("sbx", 0).error().code == ErrorCode::kInvalidArgument);
}
