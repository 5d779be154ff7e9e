// Times for people and for machines: "2 minutes ago" (docker's CREATED column) and RFC 3339.
#pragma once

#include <cstdint>
#include <string>

namespace matchlock::cli {

// How long before `now` the moment `then` was, in the coarse docker style: "Less than a second
// ago", "5 seconds ago", "About a minute ago", "3 hours ago", "2 weeks ago". A moment in the
// future (clock skew) reads as "Less than a second ago".
std::string time_ago(int64_t then_unix, int64_t now_unix);

// "2024-05-01T12:34:56Z" (UTC, whole seconds).
std::string rfc3339_utc(int64_t unix_seconds);

}  // namespace matchlock::cli
