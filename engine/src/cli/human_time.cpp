#include "cli/human_time.h"

#include <ctime>

namespace matchlock::cli {
namespace {

constexpr int64_t kMinute = 60;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;
constexpr int64_t kWeek = 7 * kDay;
constexpr int64_t kMonth = 30 * kDay;
constexpr int64_t kYear = 365 * kDay;

std::string count(int64_t n, const char* unit) {
  return std::to_string(n) + " " + unit + (n == 1 ? "" : "s") + " ago";
}

}  // namespace

std::string time_ago(int64_t then_unix, int64_t now_unix) {
  const int64_t d = now_unix - then_unix;
  // Each unit is used until two of the next one have passed ("47 hours", then "2 days").
  if (d < 1) return "Less than a second ago";
  if (d < kMinute) return count(d, "second");
  if (d < 2 * kMinute) return "About a minute ago";
  if (d < kHour) return count(d / kMinute, "minute");
  if (d < 2 * kHour) return "About an hour ago";
  if (d < 2 * kDay) return count(d / kHour, "hour");
  if (d < 2 * kWeek) return count(d / kDay, "day");
  if (d < 3 * kMonth) return count(d / kWeek, "week");
  if (d < 2 * kYear) return count(d / kMonth, "month");
  return count(d / kYear, "year");
}

std::string rfc3339_utc(int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (!::gmtime_r(&t, &tm)) return "1970-01-01T00:00:00Z";
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace matchlock::cli
