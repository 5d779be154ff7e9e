#include "image/registry/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "image/registry/curl_library.h"

namespace matchlock::image::registry {
namespace {

// An HttpClient exists only once curl_library() succeeded: these deleters reach it directly.
const CurlLibrary& curl() {
  return **curl_library();
}

struct EasyFree {
  void operator()(CURL* c) const { curl().easy_cleanup(c); }
};
struct SlistFree {
  void operator()(curl_slist* l) const { curl().slist_free_all(l); }
};
using EasyHandle = std::unique_ptr<CURL, EasyFree>;
using Slist = std::unique_ptr<curl_slist, SlistFree>;

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// Per-transfer state the curl callbacks write into.
struct Transfer {
  const HttpRequest* request = nullptr;
  HttpResponse* response = nullptr;
  CURL* easy = nullptr;
  Status sink_error;
  bool decided = false;
  bool streaming = false;
};

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {
    t->response->headers.clear();  // a new response (after 100-continue or similar)
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name = trim(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (t->response->headers.size() < 256) {
    t->response->headers.emplace_back(std::move(name), trim(line.substr(colon + 1)));
  }
  return size * n;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  if (!t->decided) {
    // Only 2xx bodies go to the sink: an error page must never land in a blob file. The
    // status line is known before the first body byte.
    long code = 0;
    curl().easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
    t->streaming = t->request->sink != nullptr && code >= 200 && code <= 299;
    t->decided = true;
  }
  if (t->streaming) {
    auto st = t->request->sink(data, len);
    if (!st) {
      t->sink_error = st;
      return 0;  // aborts with CURLE_WRITE_ERROR
    }
    return len;
  }
  if (t->response->body.size() + len > t->request->max_body) {
    t->sink_error = invalid_argument("response body larger than " +
                                     std::to_string(t->request->max_body) + " bytes");
    return 0;
  }
  t->response->body.append(data, len);
  return len;
}

}  // namespace

std::string HttpResponse::header(std::string_view name) const {
  for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
    if (it->first == name) return it->second;
  }
  return {};
}

bool is_transient_status(long status) {
  return status == 429 || (status >= 500 && status <= 599);
}

struct HttpClient::Impl {
  EasyHandle easy;
  HttpOptions options;
  CURLcode last = CURLE_OK;
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;
HttpClient::~HttpClient() = default;

Result<HttpClient> HttpClient::create(HttpOptions options) {
  auto library = curl_library();
  if (!library.ok()) return library.error();
  EasyHandle easy((*library)->easy_init());
  if (!easy) return io_error("curl_easy_init failed");
  // libcurl does not read these itself (the curl tool does); honour them like other clients.
  if (options.ca_file.empty()) {
    if (const char* f = std::getenv("SSL_CERT_FILE"); f && *f) options.ca_file = f;
  }
  if (options.ca_dir.empty()) {
    if (const char* d = std::getenv("SSL_CERT_DIR"); d && *d) options.ca_dir = d;
  }
  auto impl = std::make_unique<Impl>();
  impl->easy = std::move(easy);
  impl->options = std::move(options);
  return HttpClient(std::move(impl));
}

Result<HttpResponse> HttpClient::perform(const HttpRequest& request) {
  const CurlLibrary& lib = curl();
  CURL* c = impl_->easy.get();
  lib.easy_reset(c);
  const HttpOptions& o = impl_->options;
  HttpResponse response;
  Transfer t;
  t.request = &request;
  t.response = &response;
  t.easy = c;

  Slist headers;
  for (const auto& h : request.headers) {
    curl_slist* next = lib.slist_append(headers.get(), h.c_str());
    if (!next) return io_error("out of memory building request headers");
    (void)headers.release();
    headers.reset(next);
  }
  lib.easy_setopt(c, CURLOPT_URL, request.url.c_str());
  lib.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  lib.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  lib.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // safe on worker threads
  lib.easy_setopt(c, CURLOPT_CONNECTTIMEOUT, o.connect_timeout_s);
  lib.easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  lib.easy_setopt(c, CURLOPT_LOW_SPEED_TIME, o.stall_timeout_s);
  lib.easy_setopt(c, CURLOPT_USERAGENT, "matchlock/" MATCHLOCK_VERSION);
  lib.easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  lib.easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  lib.easy_setopt(c, CURLOPT_HEADERDATA, &t);
  lib.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  lib.easy_setopt(c, CURLOPT_WRITEDATA, &t);
  if (!o.ca_file.empty()) lib.easy_setopt(c, CURLOPT_CAINFO, o.ca_file.c_str());
  if (!o.ca_dir.empty()) lib.easy_setopt(c, CURLOPT_CAPATH, o.ca_dir.c_str());
  if (request.timeout_s > 0) lib.easy_setopt(c, CURLOPT_TIMEOUT, request.timeout_s);
  if (request.method == "HEAD") lib.easy_setopt(c, CURLOPT_NOBODY, 1L);

  CURLcode rc = lib.easy_perform(c);
  impl_->last = rc;
  if (!t.sink_error.ok()) return t.sink_error.error();
  if (rc != CURLE_OK) {
    std::string what = lib.easy_strerror(rc);
    if (rc == CURLE_OPERATION_TIMEDOUT) return Error(ErrorCode::kTimeout, what);
    return io_error(what);
  }
  lib.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

}  // namespace matchlock::image::registry

namespace matchlock::image::registry {
bool HttpClient::last_error_was_tls_mismatch() const {
  return impl_->last == CURLE_SSL_CONNECT_ERROR;
}
}  // namespace matchlock::image::registry

namespace matchlock::image::registry {
bool HttpClient::last_error_was_tls_verification() const {
  return impl_->last == CURLE_PEER_FAILED_VERIFICATION || impl_->last == CURLE_SSL_CACERT_BADFILE ||
         impl_->last == CURLE_SSL_CERTPROBLEM;
}
}  // namespace matchlock::image::registry
