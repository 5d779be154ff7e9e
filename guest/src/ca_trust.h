// The sandbox CA in the guest's trust store (interception mode): the host sends the CA's
// certificate in CONFIG "ca_certificate"; the agent appends it to the image's system CA bundles
// and tells every exec where the full bundle (system roots + the sandbox CA) is.
//
// The image is untrusted: bundle paths are fixed, a bundle that resolves (through symlinks)
// outside /etc or /usr or is not a regular file is skipped, reads are bounded, and appends
// never follow a symlink.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace matchlock::guest_agent {

// The CA certificate alone (what NODE_EXTRA_CA_CERTS adds to Node's own roots).
inline constexpr const char* kCaOnlyPath = "/etc/ssl/certs/matchlock-ca.crt";
// Where a bundle is created when the image has none at all.
inline constexpr const char* kDefaultBundlePath = "/etc/ssl/certs/ca-certificates.crt";

struct CaTrust {
  std::string bundle;   // guest path of the full bundle the exec variables point at
  std::string ca_only;  // kCaOnlyPath
};

// Installs `pem` (one or more PEM certificates, at most 64 KiB) under `root` ("" in the guest;
// a scratch directory in tests): appended once to each system bundle that exists
// (Debian/Ubuntu, Alpine, RHEL/Fedora paths, each real file once), written alone to
// kCaOnlyPath, and written as kDefaultBundlePath when the image has no bundle. Returned paths
// are guest paths (without `root`). Installing the same certificate again changes nothing.
Result<CaTrust> install_ca_certificate(std::string_view pem, const std::string& root = "");

// "KEY=path" for the variables TLS clients read their trust store from: all point at the full
// bundle (they replace the system roots) except NODE_EXTRA_CA_CERTS (added to Node's roots).
std::vector<std::string> ca_environment(const CaTrust& trust);

// Appends each "KEY=VALUE" of `defaults` whose KEY `env` does not set: what the exec request
// sets (image ENV, -e, per-exec env) wins.
void add_missing_env(std::vector<std::string>& env, const std::vector<std::string>& defaults);

}  // namespace matchlock::guest_agent
