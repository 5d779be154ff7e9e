// OpenSSL reports failures on a per-thread error queue; this turns the queue into one Error
// (and empties it, so a stale entry never gets blamed on a later call).
#pragma once

#include <string>

#include "core/result.h"

namespace matchlock::net::tls {

// kInternal with "<what>: <OpenSSL's reasons, oldest first>"; the queue is cleared.
Error openssl_error(const std::string& what);

// Empties the calling thread's OpenSSL error queue.
void clear_openssl_errors();

}  // namespace matchlock::net::tls
