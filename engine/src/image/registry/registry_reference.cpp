#include "image/registry/registry_reference.h"

#include <cstdlib>
#include <sstream>

#include "core/knobs.h"

namespace matchlock::image::registry {
namespace {

// "host:port" -> "host"; "[::1]:5000" -> "::1".
std::string_view host_of(std::string_view registry) {
  if (registry.starts_with('[')) {
    size_t close = registry.find(']');
    return close == std::string_view::npos ? registry : registry.substr(1, close - 1);
  }
  size_t colon = registry.rfind(':');
  return colon == std::string_view::npos ? registry : registry.substr(0, colon);
}

}  // namespace

std::vector<std::string> insecure_registries_from_env() {
  std::vector<std::string> out;
  auto env = knobs::get(knobs::kInsecureRegistries);
  if (!env) return out;
  std::stringstream ss(*env);
  for (std::string item; std::getline(ss, item, ',');) {
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

bool is_insecure_registry(std::string_view registry, const std::vector<std::string>& insecure) {
  std::string_view host = host_of(registry);
  if (host == "localhost" || host == "127.0.0.1" || host == "::1") return true;
  for (const auto& entry : insecure) {
    if (entry == registry || entry == host) return true;  // "host" covers every port
  }
  return false;
}

RegistryRef resolve_registry_ref(const ParsedReference& ref,
                                 const std::vector<std::string>& insecure) {
  RegistryRef out;
  const bool hub = ref.domain.empty() || ref.domain == "docker.io" ||
                   ref.domain == "index.docker.io" || ref.domain == kDockerHubRegistry;
  out.registry = hub ? std::string(kDockerHubRegistry) : ref.domain;
  out.repository = ref.path;
  if (hub && out.repository.find('/') == std::string::npos) out.repository = "library/" + ref.path;
  out.reference = ref.digest.empty() ? ref.tag : ref.digest;
  out.insecure = is_insecure_registry(out.registry, insecure);
  return out;
}

}  // namespace matchlock::image::registry
