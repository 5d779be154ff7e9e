#include "image/registry/registry_client.h"

#include <chrono>
#include <thread>

#include "core/base64.h"
#include "core/json.h"
#include "core/log.h"
#include "image/digest.h"
#include "image/manifest.h"
#include "image/registry/url.h"
#include "image/registry/www_authenticate.h"

namespace matchlock::image::registry {
namespace {

constexpr int kMaxRedirects = 5;

std::string strip_params(std::string_view content_type) {
  std::string_view s = content_type.substr(0, content_type.find(';'));
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_redirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

std::string percent_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

// Registry-provided text goes into one-line terminal messages: printable ASCII, bounded.
std::string sanitize(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 200)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  return out;
}

void backoff(int attempt, const RetryPolicy& policy) {
  std::this_thread::sleep_for(std::chrono::milliseconds(policy.initial_backoff_ms << attempt));
}

}  // namespace

std::string manifest_accept_header() {
  return "Accept: " + std::string(media_type::kOciIndex) + ", " +
         std::string(media_type::kOciManifest) + ", " +
         std::string(media_type::kDockerManifestList) + ", " +
         std::string(media_type::kDockerManifest);
}

Result<ManifestKind> classify_manifest(std::string_view content_type, std::string_view body) {
  std::string mt = strip_params(content_type);
  if (mt.empty() || mt == "application/json" || mt == "text/plain") {
    // Some registries serve a generic type; trust the document's own mediaType then.
    json::Document doc;
    doc.Parse(body.data(), body.size());
    if (doc.HasParseError() || !doc.IsObject()) return invalid_argument("manifest is not JSON");
    mt = json::get_string(doc, "mediaType");
    if (mt.empty())
      mt = looks_like_index(body) ? std::string(media_type::kOciIndex)
                                  : std::string(media_type::kOciManifest);
  }
  if (is_index_media_type(mt)) return ManifestKind::kIndex;
  if (is_manifest_media_type(mt)) return ManifestKind::kManifest;
  if (mt.starts_with("application/vnd.docker.distribution.manifest.v1")) {
    return Error(ErrorCode::kUnsupported, "schema1 manifests are not supported");
  }
  return Error(ErrorCode::kUnsupported, "unsupported manifest media type \"" + sanitize(mt) + "\"");
}

std::string describe_error_response(const HttpResponse& r) {
  json::Document doc;
  doc.Parse(r.body.data(), r.body.size());
  if (!doc.HasParseError() && doc.IsObject()) {
    const auto* errors = json::member(doc, "errors");
    if (errors && errors->IsArray() && !errors->Empty()) {
      std::string msg = json::get_string((*errors)[0], "message");
      if (msg.empty()) msg = json::get_string((*errors)[0], "code");
      if (!msg.empty()) return sanitize(msg);
    }
  }
  return "HTTP " + std::to_string(r.status);
}

Result<RegistryClient> RegistryClient::create(RegistryRef ref, std::optional<Credentials> creds,
                                              RetryPolicy retry) {
  auto http = HttpClient::create();
  if (!http) return http.error();
  return RegistryClient(std::move(*http), std::move(ref), std::move(creds), retry);
}

std::string RegistryClient::base_url() const {
  return scheme_ + "://" + ref_.registry;
}

Status RegistryClient::ensure_scheme() {
  if (!scheme_.empty()) return {};
  if (!ref_.insecure) {
    scheme_ = "https";
    return {};
  }
  // Like docker: an insecure registry still gets HTTPS when it speaks it.
  HttpRequest probe;
  probe.url = "https://" + ref_.registry + "/v2/";
  probe.timeout_s = 5;  // a plain-HTTP server may just wait for a request line
  auto r = http_.perform(probe);
  scheme_ = (!r && http_.last_error_was_tls_mismatch()) ? "http" : "https";
  log::debug("registry " + ref_.registry + ": using " + scheme_);
  return {};
}

Status RegistryClient::authenticate(const HttpResponse& unauthorized) {
  auto challenges = parse_www_authenticate(unauthorized.header("www-authenticate"));
  if (!challenges) return challenges.error().with_context(ref_.registry);
  for (const auto& ch : *challenges) {
    if (ch.scheme == "basic") {
      if (!creds_) {
        return Error(ErrorCode::kInvalidArgument, "authentication required (no credentials for " +
                                                      ref_.registry + " in the docker config)");
      }
      authorization_ =
          "Authorization: Basic " + base64::encode(creds_->username + ":" + creds_->secret);
      return {};
    }
    if (ch.scheme != "bearer") continue;
    const std::string realm = ch.param("realm");
    auto realm_url = parse_url(realm);
    if (!realm_url) return realm_url.error().with_context(ref_.registry + ": token realm");
    const std::string realm_host = realm_url->host + ":" + std::to_string(realm_url->port);
    if (realm_url->scheme == "http" && creds_ &&
        !is_insecure_registry(realm_host, insecure_registries_from_env())) {
      return invalid_argument(ref_.registry +
                              ": refusing to send credentials to plain-HTTP token realm " + realm);
    }
    std::string scope = ch.param("scope");
    if (scope.empty()) scope = "repository:" + ref_.repository + ":pull";
    HttpRequest req;
    req.url = realm + (realm.find('?') == std::string::npos ? "?" : "&") +
              "service=" + percent_encode(ch.param("service")) + "&scope=" + percent_encode(scope);
    req.max_body = kMaxTokenBytes;
    req.timeout_s = 60;
    if (creds_) {
      req.headers.push_back("Authorization: Basic " +
                            base64::encode(creds_->username + ":" + creds_->secret));
    }
    auto r = http_.perform(req);
    if (!r)
      return r.error().with_context("token server " + realm_url->host + ":" +
                                    std::to_string(realm_url->port));
    if (r->status == 401 || r->status == 403) {
      return invalid_argument(creds_ ? "authentication failed for " + ref_.registry +
                                           " (wrong credentials?)"
                                     : "authentication required for " + ref_.registry);
    }
    if (r->status != 200) return io_error("token server: " + describe_error_response(*r));
    json::Document doc;
    doc.Parse(r->body.data(), r->body.size());
    if (doc.HasParseError() || !doc.IsObject())
      return io_error("token server: response is not JSON");
    std::string token = json::get_string(doc, "token");
    if (token.empty()) token = json::get_string(doc, "access_token");
    if (token.empty()) return io_error("token server: response has no token");
    authorization_ = "Authorization: Bearer " + token;
    return {};
  }
  return Error(ErrorCode::kUnsupported, ref_.registry + ": no supported authentication scheme");
}

Result<HttpResponse> RegistryClient::send(const std::string& path, std::vector<std::string> headers,
                                          const std::function<Status()>& restart,
                                          const std::function<Status(const char*, size_t)>& sink) {
  MATCHLOCK_TRY(ensure_scheme());
  const std::string start_url = base_url() + path;
  auto origin = parse_url(start_url);
  if (!origin) return origin.error();
  std::string url = start_url;
  bool on_registry = true;
  bool auth_tried = false;
  int redirects = 0;
  int attempt = 0;
  while (true) {
    HttpRequest req;
    req.url = url;
    req.headers = headers;
    if (on_registry && !authorization_.empty()) req.headers.push_back(authorization_);
    Status sink_error;
    if (sink) {
      req.sink = [&](const char* d, size_t n) {
        auto st = sink(d, n);
        if (!st) sink_error = st;
        return st;
      };
    }
    if (restart) MATCHLOCK_TRY(restart());
    auto r = http_.perform(req);
    if (!sink_error) return sink_error.error();  // local failure (disk full, oversize): final
    if (!r && http_.last_error_was_tls_verification()) {
      return Error(ErrorCode::kIo, ref_.registry + ": TLS certificate not trusted (" +
                                       r.error().message + "; SSL_CERT_FILE selects a CA bundle)");
    }
    const bool transient = !r || is_transient_status(r->status);
    if (transient) {
      if (++attempt < retry_.attempts) {
        log::debug("registry " + ref_.registry + ": " +
                   (r ? "HTTP " + std::to_string(r->status) : r.error().message) + ", retrying");
        backoff(attempt - 1, retry_);
        url = start_url;  // redirect targets may be signed and short-lived: start over
        on_registry = true;
        redirects = 0;
        continue;
      }
      if (!r) {
        auto u = parse_url(url);
        std::string where = u ? u->host + ":" + std::to_string(u->port) : url;
        return Error(r.error().code,
                     where + " unreachable or dropped the connection: " + r.error().message);
      }
      return r;
    }
    if (r->status == 401 && on_registry && !auth_tried) {
      auth_tried = true;
      MATCHLOCK_TRY(authenticate(*r));
      continue;
    }
    if (is_redirect(r->status)) {
      if (++redirects > kMaxRedirects) return io_error("too many redirects");
      auto next = resolve_location(url, r->header("location"));
      if (!next) return next.error();
      auto next_url = parse_url(*next);
      if (!next_url) return next_url.error();
      on_registry = same_origin(*origin, *next_url);
      log::debug("redirect to " + next_url->host + ":" + std::to_string(next_url->port) +
                 (on_registry ? "" : " (without Authorization)"));
      url = *next;
      continue;
    }
    return r;
  }
}

Result<FetchedManifest> RegistryClient::fetch_manifest(const std::string& reference) {
  auto r = send("/v2/" + ref_.repository + "/manifests/" + reference, {manifest_accept_header()},
                nullptr, nullptr);
  if (!r) return r.error();
  if (r->status == 401 || r->status == 403) {
    return invalid_argument(creds_ ? "authentication failed for " + ref_.registry +
                                         " (wrong credentials?): " + describe_error_response(*r)
                                   : "authentication required (no credentials for " +
                                         ref_.registry + " in the docker config)");
  }
  if (r->status == 404) return not_found(describe_error_response(*r));
  if (r->status != 200) return io_error("manifest: " + describe_error_response(*r));
  FetchedManifest m;
  auto kind = classify_manifest(r->header("content-type"), r->body);
  if (!kind) return kind.error();
  m.kind = *kind;
  m.digest = sha256_digest(r->body);
  if (is_sha256_digest(reference) && reference != m.digest) {
    return invalid_argument("manifest digest mismatch: asked for " + reference + ", got " +
                            m.digest);
  }
  if (std::string claimed = r->header("docker-content-digest");
      is_sha256_digest(claimed) && claimed != m.digest) {
    return invalid_argument("manifest digest mismatch: registry says " + claimed + ", content is " +
                            m.digest);
  }
  m.body = std::move(r->body);
  return m;
}

Status RegistryClient::fetch_blob(const std::string& digest, const std::function<Status()>& restart,
                                  const std::function<Status(const char*, size_t)>& sink) {
  auto r = send("/v2/" + ref_.repository + "/blobs/" + digest, {}, restart, sink);
  if (!r) return r.error();
  if (r->status == 401 || r->status == 403) {
    return invalid_argument("blob " + digest + ": " + describe_error_response(*r));
  }
  if (r->status == 404) return not_found("blob " + digest + ": " + describe_error_response(*r));
  if (r->status != 200) return io_error("blob " + digest + ": " + describe_error_response(*r));
  return {};
}

}  // namespace matchlock::image::registry
