#include "net/tls/leaf_cache.h"

#include "net/tls/certificate_fields.h"
#include "net/tls/openssl_error.h"
#include "net/tls/server_name.h"

namespace matchlock::net::tls {
namespace {

// X.520 upper bound for a common name; longer names live in the SAN only.
constexpr size_t kMaxCommonNameLength = 64;

// The SAN is built as typed values, not config text: the name is guest-chosen.
Status add_subject_alt_name(X509& leaf, const ServerName& name) {
  Asn1StringPtr value;
  int type = 0;
  if (name.ip) {
    value.reset(ASN1_OCTET_STRING_new());
    type = GEN_IPADD;
    size_t length = name.ip->is_v4() ? 4 : 16;
    if (!value || ASN1_OCTET_STRING_set(value.get(), name.ip->bytes().data(),
                                        static_cast<int>(length)) != 1) {
      return openssl_error("leaf IP SAN");
    }
  } else {
    value.reset(ASN1_IA5STRING_new());
    type = GEN_DNS;
    if (!value ||
        ASN1_STRING_set(value.get(), name.text.data(), static_cast<int>(name.text.size())) != 1) {
      return openssl_error("leaf DNS SAN");
    }
  }
  GeneralNamePtr general_name(GENERAL_NAME_new());
  if (!general_name) return openssl_error("leaf SAN");
  GENERAL_NAME_set0_value(general_name.get(), type, value.release());  // now owns the value
  GeneralNamesPtr names(GENERAL_NAMES_new());
  if (!names || sk_GENERAL_NAME_push(names.get(), general_name.get()) == 0) {
    return openssl_error("leaf SAN");
  }
  general_name.release();  // now owned by `names`
  if (X509_add1_ext_i2d(&leaf, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return openssl_error("leaf SAN");
  }
  return {};
}

Status set_leaf_subject(X509& leaf, const ServerName& name) {
  X509_NAME* subject = X509_get_subject_name(&leaf);  // owned by the certificate
  auto add = [&](const char* field, const std::string& value) {
    return X509_NAME_add_entry_by_txt(subject, field, MBSTRING_ASC,
                                      reinterpret_cast<const unsigned char*>(value.data()),
                                      static_cast<int>(value.size()), -1, 0) == 1;
  };
  if (!add("O", "matchlock")) return openssl_error("leaf subject");
  // Clients match the SAN, not the CN; the CN is only for people reading the certificate.
  if (name.text.size() <= kMaxCommonNameLength && !add("CN", name.text)) {
    return openssl_error("leaf subject");
  }
  return {};
}

Result<std::shared_ptr<const LeafCertificate>> mint_leaf(const CertificateAuthority& ca,
                                                         const ServerName& name) {
  auto key = generate_p256_key();
  if (!key) return key.error();
  auto certificate = new_v3_certificate(**key, 1);
  if (!certificate) return certificate.error();
  X509& leaf = **certificate;
  // A leaf is valid exactly as long as its CA, and the cache lives no longer than the CA.
  if (X509_set1_notAfter(&leaf, X509_get0_notAfter(&ca.certificate())) != 1) {
    return openssl_error("leaf validity");
  }
  MATCHLOCK_TRY(set_leaf_subject(leaf, name));
  MATCHLOCK_TRY(add_subject_alt_name(leaf, name));
  MATCHLOCK_TRY(
      add_fixed_extension(leaf, ca.certificate(), NID_basic_constraints, "critical,CA:FALSE"));
  MATCHLOCK_TRY(
      add_fixed_extension(leaf, ca.certificate(), NID_key_usage, "critical,digitalSignature"));
  MATCHLOCK_TRY(add_fixed_extension(leaf, ca.certificate(), NID_ext_key_usage, "serverAuth"));
  MATCHLOCK_TRY(add_fixed_extension(leaf, ca.certificate(), NID_subject_key_identifier, "hash"));
  MATCHLOCK_TRY(ca.sign_leaf(leaf));
  return std::make_shared<const LeafCertificate>(
      LeafCertificate{std::move(*certificate), std::move(*key)});
}

}  // namespace

LeafCache::LeafCache(std::shared_ptr<const CertificateAuthority> ca, size_t capacity)
    : ca_(std::move(ca)), capacity_(capacity == 0 ? 1 : capacity) {}

Result<std::shared_ptr<const LeafCertificate>> LeafCache::leaf_for(std::string_view server_name) {
  auto name = parse_server_name(server_name);
  if (!name) return name.error();

  std::lock_guard lock(mutex_);
  if (auto found = by_name_.find(name->text); found != by_name_.end()) {
    recent_.splice(recent_.begin(), recent_, found->second);
    return found->second->second;
  }
  auto leaf = mint_leaf(*ca_, *name);
  if (!leaf) return leaf.error().with_context("mint leaf certificate");
  if (recent_.size() >= capacity_) {
    by_name_.erase(recent_.back().first);
    recent_.pop_back();
  }
  recent_.emplace_front(name->text, *leaf);
  by_name_.emplace(name->text, recent_.begin());
  return *leaf;
}

size_t LeafCache::size() const {
  std::lock_guard lock(mutex_);
  return recent_.size();
}

}  // namespace matchlock::net::tls
