#include "net/tls/certificate_fields.h"

#include <openssl/rand.h>

#include <array>

#include "net/tls/openssl_error.h"

namespace matchlock::net::tls {
namespace {

constexpr size_t kSerialBytes = 16;

Status set_random_serial(X509& certificate) {
  std::array<unsigned char, kSerialBytes> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return openssl_error("random certificate serial");
  }
  bytes[0] &= 0x7f;  // DER INTEGER stays positive without a leading zero byte
  bytes[0] |= 0x40;  // and never zero or short: always a full 127-bit value
  BignumPtr number(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
  if (!number) return openssl_error("certificate serial");
  Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(number.get(), nullptr));
  if (!serial || X509_set_serialNumber(&certificate, serial.get()) != 1) {
    return openssl_error("certificate serial");
  }
  return {};
}

}  // namespace

Result<EvpPkeyPtr> generate_p256_key() {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return openssl_error("generate ECDSA P-256 key");
  return key;
}

Result<X509Ptr> new_v3_certificate(EVP_PKEY& key, long not_after_days) {
  X509Ptr certificate(X509_new());
  if (!certificate) return openssl_error("allocate certificate");
  if (X509_set_version(certificate.get(), X509_VERSION_3) != 1 ||
      X509_set_pubkey(certificate.get(), &key) != 1 ||
      !X509_gmtime_adj(X509_getm_notBefore(certificate.get()), -kBackdate.count()) ||
      !X509_time_adj_ex(X509_getm_notAfter(certificate.get()), static_cast<int>(not_after_days), 0,
                        nullptr)) {
    return openssl_error("certificate fields");
  }
  MATCHLOCK_TRY(set_random_serial(*certificate));
  return certificate;
}

Status add_fixed_extension(X509& certificate, X509& issuer, int nid, const char* value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, &issuer, &certificate, nullptr, nullptr, 0);
  X509ExtensionPtr extension(X509V3_EXT_conf_nid(nullptr, &context, nid, value));
  if (!extension || X509_add_ext(&certificate, extension.get(), -1) != 1) {
    return openssl_error(std::string("certificate extension ") + OBJ_nid2sn(nid));
  }
  return {};
}

}  // namespace matchlock::net::tls
