#include "net/tls/certificate_authority.h"

#include <openssl/pem.h>

#include "net/tls/certificate_fields.h"
#include "net/tls/openssl_error.h"

namespace matchlock::net::tls {
namespace {

// X.520 upper bound for a common name.
constexpr size_t kMaxCommonNameLength = 64;

bool is_printable_ascii(std::string_view text) {
  for (char c : text) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

Status set_ca_subject(X509& certificate, const std::string& common_name) {
  X509_NAME* name = X509_get_subject_name(&certificate);  // owned by the certificate
  auto add = [&](const char* field, const std::string& value) {
    return X509_NAME_add_entry_by_txt(name, field, MBSTRING_ASC,
                                      reinterpret_cast<const unsigned char*>(value.data()),
                                      static_cast<int>(value.size()), -1, 0) == 1;
  };
  if (!add("O", "matchlock") || !add("CN", common_name)) return openssl_error("CA subject");
  // Self-signed: the issuer is the subject.
  if (X509_set_issuer_name(&certificate, name) != 1) return openssl_error("CA issuer");
  return {};
}

}  // namespace

Result<CertificateAuthority> CertificateAuthority::create(std::string_view sandbox_id,
                                                          long validity_days) {
  if (sandbox_id.empty() || !is_printable_ascii(sandbox_id)) {
    return invalid_argument("TLS CA: sandbox id must be non-empty printable ASCII");
  }
  if (validity_days <= 0) return invalid_argument("TLS CA: validity must be at least one day");
  std::string common_name = "matchlock sandbox " + std::string(sandbox_id) + " CA";
  if (common_name.size() > kMaxCommonNameLength) {
    return invalid_argument("TLS CA: sandbox id too long for the CA common name");
  }

  auto key = generate_p256_key();
  if (!key) return key.error();
  auto certificate = new_v3_certificate(**key, validity_days);
  if (!certificate) return certificate.error();
  X509& cert = **certificate;
  MATCHLOCK_TRY(set_ca_subject(cert, common_name));
  // pathlen:0 - this CA signs leaves only, never another CA.
  MATCHLOCK_TRY(
      add_fixed_extension(cert, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  MATCHLOCK_TRY(add_fixed_extension(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign"));
  MATCHLOCK_TRY(add_fixed_extension(cert, cert, NID_subject_key_identifier, "hash"));
  if (X509_sign(&cert, key->get(), EVP_sha256()) == 0) return openssl_error("sign CA certificate");
  return CertificateAuthority(std::move(*key), std::move(*certificate));
}

Result<std::string> CertificateAuthority::certificate_pem() const {
  BioPtr memory(BIO_new(BIO_s_mem()));
  if (!memory || PEM_write_bio_X509(memory.get(), certificate_.get()) != 1) {
    return openssl_error("CA certificate PEM");
  }
  char* data = nullptr;  // owned by the BIO
  long size = BIO_get_mem_data(memory.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

Status CertificateAuthority::sign_leaf(X509& leaf) const {
  if (X509_set_issuer_name(&leaf, X509_get_subject_name(certificate_.get())) != 1) {
    return openssl_error("leaf issuer");
  }
  MATCHLOCK_TRY(
      add_fixed_extension(leaf, *certificate_, NID_authority_key_identifier, "keyid:always"));
  if (X509_sign(&leaf, key_.get(), EVP_sha256()) == 0) return openssl_error("sign leaf");
  return {};
}

}  // namespace matchlock::net::tls
