// Registry credentials the way docker finds them: $DOCKER_CONFIG/config.json (default
// ~/.docker/config.json) with `auths` (base64 "user:password"), `credHelpers` per registry and
// a default `credsStore`; helpers are docker-credential-<name> programs run without a shell.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace matchlock::image::registry {

struct Credentials {
  std::string username;
  std::string secret;
};

struct DockerConfig {
  std::map<std::string, Credentials> auths;  // keyed by normalised host[:port]
  std::string creds_store;
  std::map<std::string, std::string> cred_helpers;  // host[:port] -> helper suffix
};

// "https://index.docker.io/v1/" -> "index.docker.io"; "host:5000" stays.
std::string normalize_auth_key(std::string_view key);
Result<DockerConfig> parse_docker_config(std::string_view json);
// The {"Username","Secret"} answer of `docker-credential-X get`.
Result<Credentials> parse_helper_output(std::string_view json);

// Credentials for `registry` (host[:port] as connected to); nullopt when none are configured.
// Errors only for a broken config file or a failing helper.
Result<std::optional<Credentials>> find_credentials(const std::string& registry);

}  // namespace matchlock::image::registry
