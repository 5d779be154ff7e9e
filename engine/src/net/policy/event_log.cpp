#include "net/policy/event_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <set>

#include "core/log.h"

namespace matchlock::net::policy {
namespace {

constexpr std::string_view kEllipsis = "\xE2\x80\xA6";     // U+2026
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the well-formed UTF-8 sequence starting at s[i] (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF), or 0 when the bytes there are not one.
size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char b0 = at(i);
  if (b0 < 0x80) return 1;
  size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    if (b0 == 0xE0) low = 0xA0;
    if (b0 == 0xED) high = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    if (b0 == 0xF0) low = 0x90;
    if (b0 == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (i + length > s.size()) return 0;
  if (at(i + 1) < low || at(i + 1) > high) return 0;
  for (size_t k = 2; k < length; ++k) {
    if (at(i + k) < 0x80 || at(i + k) > 0xBF) return 0;
  }
  return length;
}

// Appends the JSON escape of the character at s[i] to `out`; returns the bytes consumed.
size_t escape_one(std::string_view s, size_t i, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto c = static_cast<unsigned char>(s[i]);
  switch (c) {
    case '"':
      out += "\\\"";
      return 1;
    case '\\':
      out += "\\\\";
      return 1;
    case '\n':
      out += "\\n";
      return 1;
    case '\r':
      out += "\\r";
      return 1;
    case '\t':
      out += "\\t";
      return 1;
    default:
      break;
  }
  if (c < 0x20 || c == 0x7f) {
    out += "\\u00";
    out += kHex[c >> 4];
    out += kHex[c & 0x0f];
    return 1;
  }
  size_t length = utf8_sequence_length(s, i);
  if (length == 0) {
    out += kReplacement;
    return 1;
  }
  out.append(s.substr(i, length));
  return length;
}

// `s` as a JSON string whose escaped content takes at most `budget` bytes (cut at a character
// boundary and marked with an ellipsis when longer).
void append_json_string(std::string& out, std::string_view s, size_t budget) {
  std::string body;
  size_t keep = 0;  // length of `body` at the last character boundary that leaves room for "…"
  bool cut = false;
  for (size_t i = 0; i < s.size();) {
    i += escape_one(s, i, body);
    if (body.size() + kEllipsis.size() <= budget) keep = body.size();
    if (body.size() > budget) {
      cut = true;
      break;
    }
  }
  if (cut) {
    body.resize(keep);
    body += kEllipsis;
  }
  out += '"';
  out += body;
  out += '"';
}

void append_member(std::string& out, std::string_view key, std::string_view value, size_t budget) {
  out += '"';
  out += key;
  out += "\":";
  append_json_string(out, value, budget);
  out += ',';
}

// `"key":value` of one data field; `key_json` receives the escaped key alone.
std::string data_field_json(const EventField& field, std::string& key_json) {
  key_json.clear();
  append_json_string(key_json, field.key, EventLog::kMaxDataKeyBytes);
  std::string json = key_json + ':';
  if (const auto* text = std::get_if<std::string>(&field.value)) {
    append_json_string(json, *text, EventLog::kMaxDataStringBytes);
  } else if (const auto* number = std::get_if<int64_t>(&field.value)) {
    json += std::to_string(*number);
  } else {
    json += std::get<bool>(field.value) ? "true" : "false";
  }
  return json;
}

EventType decision_type(std::string_view phase) {
  if (phase == "route") return EventType::kRouteDecision;
  if (phase == "request") return EventType::kRequestTransform;
  if (phase == "response") return EventType::kResponseTransform;
  return EventType::kGateDecision;
}

}  // namespace

std::string rfc3339_utc_millis(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  auto since_epoch = duration_cast<milliseconds>(time.time_since_epoch());
  auto seconds_part = floor<seconds>(since_epoch);
  auto millis = (since_epoch - seconds_part).count();
  std::time_t t = static_cast<std::time_t>(seconds_part.count());
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  return buffer;
}

Event decision_event(const PolicyEvent& decision) {
  Event event;
  event.type = decision_type(decision.phase);
  event.plugin = decision.plugin;
  std::string host = decision.host.empty() ? "(no host)" : decision.host;
  event.summary = decision.phase + " " + (decision.allowed ? "allowed " : "denied ") + host +
                  (decision.reason.empty() ? "" : ": " + decision.reason);
  event.tags = {decision.allowed ? "allowed" : "denied"};
  event.data = {
      {"host", decision.host}, {"allowed", decision.allowed}, {"reason", decision.reason}};
  return event;
}

Result<std::unique_ptr<EventLog>> EventLog::open(const std::string& path,
                                                 EventLogIdentity identity) {
  auto file = AppendFile::open(path, "event log");
  if (!file.ok()) return file.error();
  return std::unique_ptr<EventLog>(new EventLog(std::move(file.value()), std::move(identity)));
}

std::string EventLog::format_line(const Event& event,
                                  std::chrono::system_clock::time_point time) const {
  std::string line = "{";
  append_member(line, "ts", rfc3339_utc_millis(time), 64);
  append_member(line, "run_id", identity_.run_id, kMaxIdentityBytes);
  append_member(line, "agent_system", identity_.agent_system, kMaxIdentityBytes);
  append_member(line, "event_type", event_type_name(event.type), 64);
  append_member(line, "summary", event.summary, kMaxSummaryBytes);
  append_member(line, "plugin", event.plugin, kMaxIdentityBytes);
  line += "\"tags\":[";
  for (size_t i = 0; i < event.tags.size() && i < kMaxTags; ++i) {
    if (i > 0) line += ',';
    append_json_string(line, event.tags[i], kMaxTagBytes);
  }
  line += "],\"data\":{";
  // Everything above is bounded well below kMaxLineBytes; data fields go in while they fit,
  // leaving room for the marker and the closing "}}\n".
  // A key that comes out the same as an earlier one (after cutting) is dropped: duplicate
  // members are ambiguous JSON.
  constexpr std::string_view kTruncated = "\"truncated\":true";
  std::set<std::string> keys;
  std::string key_json;
  bool first = true;
  for (size_t i = 0; i < event.data.size(); ++i) {
    std::string field = data_field_json(event.data[i], key_json);
    if (i >= kMaxDataFields ||
        line.size() + field.size() + 1 + kTruncated.size() + 4 > kMaxLineBytes) {
      if (!first) line += ',';
      line += kTruncated;
      break;
    }
    if (key_json == "\"truncated\"" || !keys.insert(key_json).second) continue;
    if (!first) line += ',';
    line += field;
    first = false;
  }
  line += "}}\n";
  return line;
}

void EventLog::on_decision(const PolicyEvent& event) {
  on_event(decision_event(event));
}

void EventLog::on_event(const Event& event) {
  write_line(format_line(event, std::chrono::system_clock::now()));
}

void EventLog::write_line(const std::string& line) {
  file_.append(line);
}

}  // namespace matchlock::net::policy
