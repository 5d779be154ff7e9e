#include "ca_trust.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "core/unique_fd.h"
#include "fs_util.h"
#include "log.h"

namespace matchlock::guest_agent {
namespace {

constexpr size_t kMaxCertificateBytes = 64 * 1024;
constexpr size_t kMaxBundleBytes = 16 * 1024 * 1024;

// The distributions' system bundles, most common first; the first one that takes the CA is
// the one the exec variables name.
constexpr const char* kSystemBundles[] = {
    "/etc/ssl/certs/ca-certificates.crt",                 // Debian, Ubuntu, Alpine
    "/etc/ssl/cert.pem",                                  // Alpine, macOS-style
    "/etc/pki/tls/certs/ca-bundle.crt",                   // RHEL, Fedora, CentOS
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  // RHEL, Fedora (the real file)
};

// Full bundle: clients that read these replace their roots with the file.
constexpr const char* kBundleVariables[] = {
    "SSL_CERT_FILE",      "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",     "PIP_CERT",
    "CARGO_HTTP_CAINFO",  "GIT_SSL_CAINFO",
    "AWS_CA_BUNDLE",      "DENO_CERT",
    "BUNDLE_SSL_CA_CERT", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
};

Status check_pem(std::string_view pem) {
  if (pem.empty() || pem.size() > kMaxCertificateBytes)
    return invalid_argument("config: ca_certificate is empty or larger than 64 KiB");
  if (!pem.starts_with("-----BEGIN CERTIFICATE-----") ||
      pem.find("-----END CERTIFICATE-----") == std::string_view::npos)
    return invalid_argument("config: ca_certificate is not a PEM certificate");
  for (unsigned char c : pem) {
    if (!(c == '\n' || c == '\r' || (c >= ' ' && c < 0x7f)))
      return invalid_argument("config: ca_certificate holds a non-PEM character");
  }
  return {};
}

bool under(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0;
}

std::string real_path(const std::string& path) {
  char real[PATH_MAX];
  if (::realpath(path.c_str(), real) == nullptr) return "";
  return real;
}

// Inside root's /etc or /usr once every symlink is followed (the image chose the links).
bool confined(const std::string& root, const std::string& resolved) {
  std::string real_root = root.empty() ? "" : real_path(root);
  if (!root.empty() && real_root.empty()) return false;
  return under(resolved, real_root + "/etc/") || under(resolved, real_root + "/usr/");
}

// The bundle's real file when it exists, is a regular file and stays inside root's /etc or
// /usr; "" otherwise (a missing bundle is normal, an odd one is logged).
std::string resolve_bundle(const std::string& root, const char* guest_path) {
  std::string path = root + guest_path;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return "";
  auto skip = [&](const char* why) {
    log_line(std::string("ca: ") + guest_path + " " + why + "; skipped");
    return std::string();
  };
  std::string resolved = real_path(path);
  if (resolved.empty()) return skip("is a dangling link");
  if (!confined(root, resolved)) return skip("leads outside /etc and /usr");
  if (::stat(resolved.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return skip("is not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxBundleBytes) return skip("is larger than 16 MiB");
  return resolved;
}

Status append_once(const std::string& real_path, std::string_view pem, const char* guest_path) {
  auto current = read_file(real_path, kMaxBundleBytes);
  if (!current)
    return io_error(std::string("ca: read ") + guest_path + ": " + std::strerror(errno));
  if (current->find(pem) != std::string::npos) return {};  // CONFIG applied twice
  std::string text;
  if (!current->empty() && current->back() != '\n') text += '\n';
  text.append(pem);
  if (text.back() != '\n') text += '\n';
  UniqueFd fd(::open(real_path.c_str(), O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return io_error(std::string("ca: open ") + guest_path + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return io_error(std::string("ca: append to ") + guest_path + ": " + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

}  // namespace

Result<CaTrust> install_ca_certificate(std::string_view pem_text, const std::string& root) {
  MATCHLOCK_TRY(check_pem(pem_text));
  std::string pem(pem_text);
  if (pem.back() != '\n') pem += '\n';
  CaTrust trust;
  trust.ca_only = kCaOnlyPath;
  std::set<std::string> done;  // real files: Alpine's cert.pem links to ca-certificates.crt
  for (const char* bundle : kSystemBundles) {
    std::string real = resolve_bundle(root, bundle);
    if (real.empty()) continue;
    if (done.insert(real).second) MATCHLOCK_TRY(append_once(real, pem, bundle));
    if (trust.bundle.empty()) trust.bundle = bundle;
  }
  if (!make_dirs(root + "/etc/ssl/certs")) {
    return io_error("ca: mkdir /etc/ssl/certs: " + std::string(std::strerror(errno)));
  }
  if (!confined(root, real_path(root + "/etc/ssl/certs"))) {
    return io_error("ca: /etc/ssl/certs leads outside /etc and /usr");
  }
  if (!write_file(root + kCaOnlyPath, pem)) {
    return io_error(std::string("ca: write ") + kCaOnlyPath + ": " + std::strerror(errno));
  }
  if (trust.bundle.empty()) {  // no system roots at all: the bundle is the sandbox CA alone
    if (!write_file(root + kDefaultBundlePath, pem)) {
      return io_error(std::string("ca: write ") + kDefaultBundlePath + ": " + std::strerror(errno));
    }
    trust.bundle = kDefaultBundlePath;
  }
  return trust;
}

std::vector<std::string> ca_environment(const CaTrust& trust) {
  std::vector<std::string> env;
  for (const char* name : kBundleVariables) env.push_back(std::string(name) + "=" + trust.bundle);
  env.push_back("NODE_EXTRA_CA_CERTS=" + trust.ca_only);
  return env;
}

void add_missing_env(std::vector<std::string>& env, const std::vector<std::string>& defaults) {
  std::set<std::string> keys;
  for (const auto& kv : env) keys.insert(kv.substr(0, kv.find('=')));
  for (const auto& kv : defaults) {
    if (keys.insert(kv.substr(0, kv.find('='))).second) env.push_back(kv);
  }
}

}  // namespace matchlock::guest_agent
