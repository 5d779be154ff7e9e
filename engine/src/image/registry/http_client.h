// One libcurl easy handle (connection reuse across requests), RAII-owned. A single attempt per
// perform(): redirects are never followed here (the caller decides where Authorization goes)
// and retries are the caller's policy. Body is streamed to a sink or kept, bounded, in memory.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace matchlock::image::registry {

struct HttpRequest {
  std::string method = "GET";  // GET | HEAD
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  // Streams the body of a 2xx response; an error aborts the transfer and is returned.
  // Without a sink the body is kept in HttpResponse::body (non-2xx bodies always are).
  std::function<Status(const char*, size_t)> sink;
  size_t max_body = 4 * 1024 * 1024;  // for in-memory bodies; larger is an error
  long timeout_s = 0;                 // whole-request bound; 0 = only the stall timeout
};

struct HttpResponse {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  std::string body;
  // Last value of a header (name lowercase), empty if absent.
  std::string header(std::string_view name) const;
};

struct HttpOptions {
  long connect_timeout_s = 15;
  long stall_timeout_s = 30;  // abort when below 1 byte/s for this long
  std::string ca_file;        // empty: the system trust store (SSL_CERT_FILE read by create())
  std::string ca_dir;
};

// Transport failures come back as kIo (refused, reset, "transfer closed with N bytes
// remaining") or kTimeout; the caller decides whether to retry.
class HttpClient {
 public:
  static Result<HttpClient> create(HttpOptions options = {});
  HttpClient(HttpClient&&) noexcept;
  HttpClient& operator=(HttpClient&&) noexcept;
  ~HttpClient();

  Result<HttpResponse> perform(const HttpRequest& request);
  // After a failed perform(): true if the TLS handshake failed because the peer does not
  // speak TLS (a plain-HTTP server), as opposed to a certificate or network failure.
  bool last_error_was_tls_mismatch() const;
  // After a failed perform(): a certificate problem, which no retry will fix.
  bool last_error_was_tls_verification() const;

 private:
  struct Impl;
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// True for failures worth another attempt: dropped or refused connections, timeouts, and
// server-side 5xx / 429 answers.
bool is_transient_status(long status);

}  // namespace matchlock::image::registry
