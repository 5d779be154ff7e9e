// Where a parsed image reference lives on the wire: docker's defaults (no registry means Docker
// Hub, whose one-word repositories live under library/), and whether plain HTTP is allowed.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "image/reference.h"

namespace matchlock::image::registry {

inline constexpr std::string_view kDockerHubRegistry = "registry-1.docker.io";
// The key docker login writes for Docker Hub in config.json and passes to credential helpers.
inline constexpr std::string_view kDockerHubAuthKey = "https://index.docker.io/v1/";

struct RegistryRef {
  std::string registry;    // "host[:port]" to connect to
  std::string repository;  // "library/busybox"
  std::string reference;   // tag or "sha256:..." as sent in /manifests/<reference>
  bool insecure = false;   // plain HTTP allowed (after HTTPS is tried)
};

// Insecure registries: loopback hosts always, plus the comma separated host[:port] entries of
// MATCHLOCK_INSECURE_REGISTRIES.
std::vector<std::string> insecure_registries_from_env();
bool is_insecure_registry(std::string_view registry, const std::vector<std::string>& insecure);

RegistryRef resolve_registry_ref(const ParsedReference& ref,
                                 const std::vector<std::string>& insecure);

}  // namespace matchlock::image::registry
