#include <unistd.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "ca_trust.h"

using namespace matchlock;
using namespace matchlock::guest_agent;
namespace fs = std::filesystem;

namespace {

const std::string kPem = "-----BEGIN CERTIFICATE-----\nMIIBsandboxca\n-----END CERTIFICATE-----\n";

struct Root {
  fs::path dir;
  Root() {
    char tmpl[] = "/tmp/ca-trust-test-XXXXXX";
    dir = ::mkdtemp(tmpl);
  }
  ~Root() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  void write(const std::string& guest_path, const std::string& text) const {
    fs::create_directories((dir / guest_path.substr(1)).parent_path());
    std::ofstream(dir / guest_path.substr(1)) << text;
  }
  std::string read(const std::string& guest_path) const {
    std::ifstream in(dir / guest_path.substr(1));
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
  void link(const std::string& guest_path, const std::string& target) const {
    fs::create_directories((dir / guest_path.substr(1)).parent_path());
    fs::create_symlink(target, dir / guest_path.substr(1));
  }
};

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("the CA is appended to a Debian bundle once", "[guest][ca]") {
  Root root;
  root.write("/etc/ssl/certs/ca-certificates.crt", "SYSTEM ROOTS");  // no final newline
  auto trust = install_ca_certificate(kPem, root.dir.string());
  REQUIRE(trust.ok());
  CHECK(trust->bundle == "/etc/ssl/certs/ca-certificates.crt");
  CHECK(trust->ca_only == "/etc/ssl/certs/matchlock-ca.crt");
  CHECK(root.read("/etc/ssl/certs/ca-certificates.crt") == "SYSTEM ROOTS\n" + kPem);
  CHECK(root.read("/etc/ssl/certs/matchlock-ca.crt") == kPem);
  REQUIRE(install_ca_certificate(kPem, root.dir.string()).ok());  // CONFIG applied again
  CHECK(count(root.read("/etc/ssl/certs/ca-certificates.crt"), kPem) == 1);
}

TEST_CASE("Alpine's linked bundles get the CA once", "[guest][ca]") {
  Root root;
  root.write("/etc/ssl/certs/ca-certificates.crt", "ROOTS\n");
  root.link("/etc/ssl/cert.pem", "certs/ca-certificates.crt");
  auto trust = install_ca_certificate(kPem, root.dir.string());
  REQUIRE(trust.ok());
  CHECK(count(root.read("/etc/ssl/certs/ca-certificates.crt"), kPem) == 1);
}

TEST_CASE("RHEL bundles are used when the Debian one is absent", "[guest][ca]") {
  Root root;
  root.write("/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", "RHEL ROOTS\n");
  root.link("/etc/pki/tls/certs/ca-bundle.crt",
            (root.dir / "etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem").string());
  auto trust = install_ca_certificate(kPem, root.dir.string());
  REQUIRE(trust.ok());
  CHECK(trust->bundle == "/etc/pki/tls/certs/ca-bundle.crt");
  CHECK(root.read("/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem") == "RHEL ROOTS\n" + kPem);
  CHECK_FALSE(fs::exists(root.dir / "etc/ssl/certs/ca-certificates.crt"));
}

TEST_CASE("an image without a bundle gets one holding the CA alone", "[guest][ca]") {
  Root root;
  auto trust = install_ca_certificate(kPem, root.dir.string());
  REQUIRE(trust.ok());
  CHECK(trust->bundle == "/etc/ssl/certs/ca-certificates.crt");
  CHECK(root.read("/etc/ssl/certs/ca-certificates.crt") == kPem);
}

TEST_CASE("a bundle that leads outside /etc and /usr is left alone", "[guest][ca]") {
  Root root;
  root.write("/home/victim.txt", "DATA\n");
  root.link("/etc/ssl/cert.pem", (root.dir / "home/victim.txt").string());
  auto trust = install_ca_certificate(kPem, root.dir.string());
  REQUIRE(trust.ok());
  CHECK(root.read("/home/victim.txt") == "DATA\n");
  CHECK(trust->bundle == "/etc/ssl/certs/ca-certificates.crt");  // created, CA alone
}

TEST_CASE("a malformed certificate is refused", "[guest][ca]") {
  Root root;
  CHECK_FALSE(install_ca_certificate("", root.dir.string()).ok());
  CHECK_FALSE(install_ca_certificate("not a pem", root.dir.string()).ok());
  CHECK_FALSE(install_ca_certificate(std::string(70000, 'A'), root.dir.string()).ok());
  CHECK_FALSE(
      install_ca_certificate("-----BEGIN CERTIFICATE-----\n\x01\n-----END CERTIFICATE-----\n",
                             root.dir.string())
          .ok());
}

TEST_CASE("CA variables point at the full bundle; the request's own env wins", "[guest][ca]") {
  auto env =
      ca_environment({"/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/matchlock-ca.crt"});
  CHECK(std::find(env.begin(), env.end(), "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt") !=
        env.end());
  CHECK(std::find(env.begin(), env.end(), "NODE_EXTRA_CA_CERTS=/etc/ssl/certs/matchlock-ca.crt") !=
        env.end());
  for (const auto& kv : env) {
    if (!kv.starts_with("NODE_EXTRA_CA_CERTS=")) CHECK(kv.ends_with("/ca-certificates.crt"));
  }
  std::vector<std::string> request = {"PATH=/bin", "SSL_CERT_FILE=/mine.pem"};
  add_missing_env(request, env);
  CHECK(request[1] == "SSL_CERT_FILE=/mine.pem");
  CHECK(std::count_if(request.begin(), request.end(),
                      [](const std::string& kv) { return kv.starts_with("SSL_CERT_FILE="); }) == 1);
  CHECK(request.size() == 1 + env.size());
}
