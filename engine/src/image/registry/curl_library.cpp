#include "image/registry/curl_library.h"

#include <dlfcn.h>

#include <string>

namespace matchlock::image::registry {
namespace {

constexpr const char* kSoname = "libcurl.so.4";

// Sets `out` to the library's `name`; the first name not found is kept in `missing`.
template <typename Fn>
void resolve(void* handle, const char* name, Fn& out, std::string& missing) {
  out = reinterpret_cast<Fn>(::dlsym(handle, name));
  if (!out && missing.empty()) missing = name;
}

Result<CurlLibrary> open_library() {
  // Never closed: transfers may run until the process exits, and libcurl's global state with it.
  void* handle = ::dlopen(kSoname, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    std::string message = "cannot load ";
    message.append(kSoname).append(" for registry transfers");
    if (const char* why = ::dlerror()) message.append(": ").append(why);
    message.append(" (scripts/install-deps.sh installs libcurl)");
    return io_error(message);
  }
  CurlLibrary lib{};
  CURLcode (*global_init)(long) = nullptr;
  std::string missing;
  resolve(handle, "curl_global_init", global_init, missing);
  resolve(handle, "curl_easy_init", lib.easy_init, missing);
  resolve(handle, "curl_easy_setopt", lib.easy_setopt, missing);
  resolve(handle, "curl_easy_getinfo", lib.easy_getinfo, missing);
  resolve(handle, "curl_easy_perform", lib.easy_perform, missing);
  resolve(handle, "curl_easy_reset", lib.easy_reset, missing);
  resolve(handle, "curl_easy_cleanup", lib.easy_cleanup, missing);
  resolve(handle, "curl_easy_strerror", lib.easy_strerror, missing);
  resolve(handle, "curl_slist_append", lib.slist_append, missing);
  resolve(handle, "curl_slist_free_all", lib.slist_free_all, missing);
  if (!missing.empty()) {
    std::string message = kSoname;
    return io_error(message.append(" has no ").append(missing));
  }
  if (CURLcode rc = global_init(CURL_GLOBAL_DEFAULT); rc != CURLE_OK) {
    return io_error(std::string("curl_global_init failed (") + std::to_string(rc) + ")");
  }
  return lib;
}

}  // namespace

Result<const CurlLibrary*> curl_library() {
  // Opened by the first caller; later callers (worker threads included) get the same outcome.
  static const Result<CurlLibrary> loaded = open_library();
  if (!loaded.ok()) return loaded.error();
  return &*loaded;
}

}  // namespace matchlock::image::registry
