#include "cli/human_time.h"

#include <catch2/catch.hpp>

#include "cli/text_table.h"

using matchlock::cli::format_table;
using matchlock::cli::rfc3339_utc;
using matchlock::cli::time_ago;

TEST_CASE("time_ago reads like docker's CREATED column", "[cli][human_time]") {
  const int64_t now = 1700000000;
  CHECK(time_ago(now, now) == "Less than a second ago");
  CHECK(time_ago(now + 30, now) == "Less than a second ago");  // clock skew
  CHECK(time_ago(now - 1, now) == "1 second ago");
  CHECK(time_ago(now - 59, now) == "59 seconds ago");
  CHECK(time_ago(now - 60, now) == "About a minute ago");
  CHECK(time_ago(now - 119, now) == "About a minute ago");
  CHECK(time_ago(now - 120, now) == "2 minutes ago");
  CHECK(time_ago(now - 3599, now) == "59 minutes ago");
  CHECK(time_ago(now - 3600, now) == "About an hour ago");
  CHECK(time_ago(now - 2 * 3600, now) == "2 hours ago");
  CHECK(time_ago(now - 47 * 3600, now) == "47 hours ago");
  CHECK(time_ago(now - 2 * 86400, now) == "2 days ago");
  CHECK(time_ago(now - 13 * 86400, now) == "13 days ago");
  CHECK(time_ago(now - 14 * 86400, now) == "2 weeks ago");
  CHECK(time_ago(now - 100 * 86400, now) == "3 months ago");
  CHECK(time_ago(now - 800 * 86400, now) == "2 years ago");
}

TEST_CASE("rfc3339_utc formats whole seconds in UTC", "[cli][human_time]") {
  CHECK(rfc3339_utc(0) == "1970-01-01T00:00:00Z");
  CHECK(rfc3339_utc(1700000000) == "2023-11-14T22:13:20Z");
}

TEST_CASE("format_table pads columns and leaves no trailing blanks", "[cli][table]") {
  CHECK(format_table({{"ID", "STATUS"}, {"vm-1", "running"}, {"vm-12345", "-"}}) ==
        "ID         STATUS\n"
        "vm-1       running\n"
        "vm-12345   -\n");
  CHECK(format_table({}).empty());
}
