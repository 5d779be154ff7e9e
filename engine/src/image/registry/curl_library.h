// libcurl, opened on the first registry transfer instead of linked. Linked, libcurl and the
// two dozen libraries it pulls in (GnuTLS, Kerberos, LDAP, libssh2, libpsl, ...) cost every
// matchlock process, `run` and `exec` included, some 260 page faults at start: 3-6 ms on a
// nested-virtualization host, where a fault is expensive. Only pulls and pushes use it.
#pragma once

#include <curl/curl.h>

#include "core/result.h"

namespace matchlock::image::registry {

// The entry points http_client.cpp calls, resolved from the loaded library.
struct CurlLibrary {
  CURL* (*easy_init)();
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
  CURLcode (*easy_perform)(CURL*);
  void (*easy_reset)(CURL*);
  void (*easy_cleanup)(CURL*);
  const char* (*easy_strerror)(CURLcode);
  curl_slist* (*slist_append)(curl_slist*, const char*);
  void (*slist_free_all)(curl_slist*);
};

// libcurl (soname libcurl.so.4), opened and globally initialized once per process and kept for
// its lifetime; the error names the library or the entry point that is missing.
Result<const CurlLibrary*> curl_library();

}  // namespace matchlock::image::registry
