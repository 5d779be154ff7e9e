// Talks the OCI distribution API to one repository: auth (anonymous, Basic, Bearer tokens from
// WWW-Authenticate), manifests with all four Accept types dispatched on Content-Type, and blob
// downloads streamed to a sink across redirects (Authorization never leaves the registry's
// origin) with retries on 5xx and dropped connections.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "image/registry/docker_config.h"
#include "image/registry/http_client.h"
#include "image/registry/registry_reference.h"

namespace matchlock::image::registry {

inline constexpr size_t kMaxManifestBytes = 4 * 1024 * 1024;
inline constexpr size_t kMaxTokenBytes = 1024 * 1024;

// The Accept header value: OCI index, OCI manifest, Docker list, Docker v2 (never schema1).
std::string manifest_accept_header();

enum class ManifestKind { kIndex, kManifest };
// Decides from the response Content-Type (parameters ignored); for a missing or generic JSON
// type, from the body's mediaType. Schema1 and unknown types are errors.
Result<ManifestKind> classify_manifest(std::string_view content_type, std::string_view body);

struct RetryPolicy {
  int attempts = 4;              // total tries per request
  int initial_backoff_ms = 200;  // doubled after each failure
};

struct FetchedManifest {
  ManifestKind kind = ManifestKind::kManifest;
  std::string body;
  std::string digest;  // sha256 of body, checked against the requested digest
};

class RegistryClient {
 public:
  static Result<RegistryClient> create(RegistryRef ref, std::optional<Credentials> creds,
                                       RetryPolicy retry = {});

  Result<FetchedManifest> fetch_manifest(const std::string& reference);
  // Downloads a blob. `restart` runs before every attempt (reset the destination), `sink`
  // receives the bytes. Size and digest checks are the caller's (on commit).
  Status fetch_blob(const std::string& digest, const std::function<Status()>& restart,
                    const std::function<Status(const char*, size_t)>& sink);

  const RegistryRef& ref() const { return ref_; }

 private:
  RegistryClient(HttpClient http, RegistryRef ref, std::optional<Credentials> creds,
                 RetryPolicy retry)
      : http_(std::move(http)), ref_(std::move(ref)), creds_(std::move(creds)), retry_(retry) {}

  Status ensure_scheme();
  Result<HttpResponse> send(const std::string& path, std::vector<std::string> headers,
                            const std::function<Status()>& restart,
                            const std::function<Status(const char*, size_t)>& sink);
  Status authenticate(const HttpResponse& unauthorized);
  std::string base_url() const;

  HttpClient http_;
  RegistryRef ref_;
  std::optional<Credentials> creds_;
  RetryPolicy retry_;
  std::string scheme_;         // decided on first contact
  std::string authorization_;  // "Basic ..." or "Bearer ..." once known
};

// One-line text for a registry error response: the first errors[].message (lowercased as the
// registries send it), else "HTTP <status>".
std::string describe_error_response(const HttpResponse& r);

}  // namespace matchlock::image::registry
