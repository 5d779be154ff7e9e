#include "dockerbuild/image_config_writer.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cctype>
#include <ctime>

#include "core/json.h"
#include "image/image_config.h"
#include "image/image_store.h"

namespace matchlock::dockerbuild {
namespace {

using JsonWriter = json::Writer;

Result<rapidjson::Document> parse_config(std::string_view json) {
  if (json.size() > image::kMaxJsonBytes) {
    return invalid_argument("image config larger than 4 MiB");
  }
  json::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return invalid_argument("image config is not a JSON object");
  }
  return doc;
}

// The member, or nullptr when it is absent or null (docker writes null for unset fields).
const rapidjson::Value* present(const rapidjson::Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

Error wrong_type(const char* key, const char* what) {
  return invalid_argument(std::string("image config: config.") + key + " is not " + what);
}

Status read_string(const rapidjson::Value& obj, const char* key, std::string& out) {
  const auto* v = present(obj, key);
  if (!v) return {};
  if (!v->IsString()) return wrong_type(key, "a string");
  out.assign(v->GetString(), v->GetStringLength());
  return {};
}

Result<std::vector<std::string>> string_array(const rapidjson::Value& v, const char* key) {
  if (!v.IsArray()) return wrong_type(key, "an array of strings");
  std::vector<std::string> out;
  for (const auto& s : v.GetArray()) {
    if (!s.IsString()) return wrong_type(key, "an array of strings");
    out.emplace_back(s.GetString(), s.GetStringLength());
  }
  return out;
}

Status read_strings(const rapidjson::Value& obj, const char* key, std::vector<std::string>& out) {
  const auto* v = present(obj, key);
  if (!v) return {};
  auto list = string_array(*v, key);
  if (!list) return list.error();
  out = std::move(*list);
  return {};
}

Status read_optional_strings(const rapidjson::Value& obj, const char* key,
                             std::optional<std::vector<std::string>>& out) {
  const auto* v = present(obj, key);
  if (!v) return {};
  auto list = string_array(*v, key);
  if (!list) return list.error();
  out = std::move(*list);
  return {};
}

// ExposedPorts and Volumes: objects whose keys are the values ({"80/tcp": {}}).
Status read_key_set(const rapidjson::Value& obj, const char* key, std::set<std::string>& out) {
  const auto* v = present(obj, key);
  if (!v) return {};
  if (!v->IsObject()) return wrong_type(key, "an object");
  for (const auto& m : v->GetObject()) out.emplace(m.name.GetString(), m.name.GetStringLength());
  return {};
}

Status read_labels(const rapidjson::Value& obj, std::map<std::string, std::string>& out) {
  const auto* v = present(obj, "Labels");
  if (!v) return {};
  if (!v->IsObject()) return wrong_type("Labels", "an object");
  for (const auto& m : v->GetObject()) {
    if (!m.value.IsString()) return wrong_type("Labels", "an object of strings");
    out[std::string(m.name.GetString(), m.name.GetStringLength())] =
        std::string(m.value.GetString(), m.value.GetStringLength());
  }
  return {};
}

Status read_duration(const rapidjson::Value& obj, const char* key, int64_t& out) {
  const auto* v = present(obj, key);
  if (!v) return {};
  if (!v->IsInt64()) return wrong_type(key, "a duration in nanoseconds");
  out = v->GetInt64();
  return {};
}

Status read_healthcheck(const rapidjson::Value& obj, std::optional<Healthcheck>& out) {
  const auto* v = present(obj, "Healthcheck");
  if (!v) return {};
  if (!v->IsObject()) return wrong_type("Healthcheck", "an object");
  Healthcheck hc;
  MATCHLOCK_TRY(read_strings(*v, "Test", hc.test));
  MATCHLOCK_TRY(read_duration(*v, "Interval", hc.interval_ns));
  MATCHLOCK_TRY(read_duration(*v, "Timeout", hc.timeout_ns));
  MATCHLOCK_TRY(read_duration(*v, "StartPeriod", hc.start_period_ns));
  MATCHLOCK_TRY(read_duration(*v, "StartInterval", hc.start_interval_ns));
  if (const auto* r = present(*v, "Retries")) {
    if (!r->IsInt()) return wrong_type("Healthcheck.Retries", "an integer");
    hc.retries = r->GetInt();
  }
  out = std::move(hc);
  return {};
}

void put_string(JsonWriter& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void put_strings(JsonWriter& w, const std::vector<std::string>& list) {
  w.StartArray();
  for (const auto& s : list) put_string(w, s);
  w.EndArray();
}

void put_key_set(JsonWriter& w, const std::set<std::string>& keys) {
  w.StartObject();
  for (const auto& k : keys) {
    put_string(w, k);
    w.StartObject();
    w.EndObject();
  }
  w.EndObject();
}

void put_healthcheck(JsonWriter& w, const Healthcheck& hc) {
  w.StartObject();
  w.Key("Test");
  put_strings(w, hc.test);
  const std::pair<const char*, int64_t> durations[] = {{"Interval", hc.interval_ns},
                                                       {"Timeout", hc.timeout_ns},
                                                       {"StartPeriod", hc.start_period_ns},
                                                       {"StartInterval", hc.start_interval_ns}};
  for (const auto& [key, ns] : durations) {
    if (ns == 0) continue;
    w.Key(key);
    w.Int64(ns);
  }
  if (hc.retries != 0) {
    w.Key("Retries");
    w.Int(hc.retries);
  }
  w.EndObject();
}

// Each field is written only when it is set: docker leaves unset ones out.
void put_if_set(JsonWriter& w, const char* key, const std::string& value) {
  if (value.empty()) return;
  w.Key(key);
  put_string(w, value);
}

void put_if_set(JsonWriter& w, const char* key, const std::vector<std::string>& list) {
  if (list.empty()) return;
  w.Key(key);
  put_strings(w, list);
}

void put_if_set(JsonWriter& w, const char* key, const std::set<std::string>& keys) {
  if (keys.empty()) return;
  w.Key(key);
  put_key_set(w, keys);
}

// config.config: only what is set, in the order docker writes its fields.
void put_settings(JsonWriter& w, const ImageSettings& s) {
  w.StartObject();
  put_if_set(w, "User", s.user);
  put_if_set(w, "ExposedPorts", s.exposed_ports);
  put_if_set(w, "Env", s.env);
  if (s.entrypoint) put_if_set(w, "Entrypoint", *s.entrypoint);
  if (s.cmd) put_if_set(w, "Cmd", *s.cmd);
  put_if_set(w, "Volumes", s.volumes);
  put_if_set(w, "WorkingDir", s.workdir);
  if (!s.labels.empty()) {
    w.Key("Labels");
    w.StartObject();
    for (const auto& [k, v] : s.labels) {
      put_string(w, k);
      put_string(w, v);
    }
    w.EndObject();
  }
  put_if_set(w, "OnBuild", s.onbuild);
  put_if_set(w, "StopSignal", s.stop_signal);
  put_if_set(w, "Shell", s.shell);
  if (s.healthcheck) {
    w.Key("Healthcheck");
    put_healthcheck(w, *s.healthcheck);
  }
  w.EndObject();
}

void put_history(JsonWriter& w, const std::vector<HistoryEntry>& history) {
  w.StartArray();
  for (const auto& h : history) {
    w.StartObject();
    if (h.created_unix != 0) {
      w.Key("created");
      put_string(w, format_rfc3339_utc(h.created_unix));
    }
    put_if_set(w, "created_by", h.created_by);
    put_if_set(w, "comment", h.comment);
    if (h.empty_layer) {
      w.Key("empty_layer");
      w.Bool(true);
    }
    w.EndObject();
  }
  w.EndArray();
}

// Base fields kept as they are (os.features, an array, follows them). The fallback fills a field
// the base lacks (or a scratch image): an image without a platform runs nowhere.
struct KeptField {
  const char* key;
  std::string (*fallback)();
};
const KeptField kKeptStringFields[] = {
    {"author", nullptr},     {"architecture", &image::host_architecture},
    {"variant", nullptr},    {"os", [] { return std::string("linux"); }},
    {"os.version", nullptr},
};

// Reads `digits` decimal digits at text[pos], advancing pos; false if they are not there.
bool read_digits(std::string_view text, size_t& pos, size_t digits, int& out) {
  if (pos + digits > text.size()) return false;
  out = 0;
  for (size_t i = 0; i < digits; ++i) {
    char c = text[pos + i];
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    out = out * 10 + (c - '0');
  }
  pos += digits;
  return true;
}

bool expect(std::string_view text, size_t& pos, std::string_view chars) {
  if (pos >= text.size() || chars.find(text[pos]) == std::string_view::npos) return false;
  ++pos;
  return true;
}

}  // namespace

std::string format_rfc3339_utc(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (!::gmtime_r(&t, &tm)) return "1970-01-01T00:00:00Z";
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

std::optional<int64_t> parse_rfc3339(std::string_view text) {
  size_t pos = 0;
  int year, month, day, hour, minute, second;
  if (!read_digits(text, pos, 4, year) || !expect(text, pos, "-") ||
      !read_digits(text, pos, 2, month) || !expect(text, pos, "-") ||
      !read_digits(text, pos, 2, day) || !expect(text, pos, "Tt ") ||
      !read_digits(text, pos, 2, hour) || !expect(text, pos, ":") ||
      !read_digits(text, pos, 2, minute) || !expect(text, pos, ":") ||
      !read_digits(text, pos, 2, second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    size_t start = pos;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) ++pos;
    if (pos == start) return std::nullopt;
  }
  int64_t offset = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else {
    if (pos >= text.size() || (text[pos] != '+' && text[pos] != '-')) return std::nullopt;
    int sign = text[pos++] == '-' ? -1 : 1;
    int oh, om;
    if (!read_digits(text, pos, 2, oh) || !expect(text, pos, ":") ||
        !read_digits(text, pos, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset = sign * (oh * 3600 + om * 60);
  }
  if (pos != text.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<int64_t>(::timegm(&tm)) - offset;
}

Result<ImageSettings> settings_from_config(std::string_view config_json) {
  auto doc = parse_config(config_json);
  if (!doc) return doc.error();
  ImageSettings s;
  const auto* c = present(*doc, "config");
  if (!c) return s;
  if (!c->IsObject()) return invalid_argument("image config: config is not an object");
  MATCHLOCK_TRY(read_strings(*c, "Env", s.env));
  MATCHLOCK_TRY(read_string(*c, "User", s.user));
  MATCHLOCK_TRY(read_string(*c, "WorkingDir", s.workdir));
  MATCHLOCK_TRY(read_optional_strings(*c, "Entrypoint", s.entrypoint));
  MATCHLOCK_TRY(read_optional_strings(*c, "Cmd", s.cmd));
  MATCHLOCK_TRY(read_strings(*c, "Shell", s.shell));
  MATCHLOCK_TRY(read_labels(*c, s.labels));
  MATCHLOCK_TRY(read_key_set(*c, "ExposedPorts", s.exposed_ports));
  MATCHLOCK_TRY(read_key_set(*c, "Volumes", s.volumes));
  MATCHLOCK_TRY(read_string(*c, "StopSignal", s.stop_signal));
  MATCHLOCK_TRY(read_healthcheck(*c, s.healthcheck));
  MATCHLOCK_TRY(read_strings(*c, "OnBuild", s.onbuild));
  return s;
}

Result<std::vector<HistoryEntry>> history_from_config(std::string_view config_json) {
  auto doc = parse_config(config_json);
  if (!doc) return doc.error();
  std::vector<HistoryEntry> out;
  const auto* h = present(*doc, "history");
  if (!h) return out;
  if (!h->IsArray()) return invalid_argument("image config: history is not an array");
  for (const auto& e : h->GetArray()) {
    if (!e.IsObject()) return invalid_argument("image config: history entry is not an object");
    HistoryEntry entry;
    std::string created;
    auto field = [&](const char* key, std::string& out_field) -> Status {
      const auto* v = present(e, key);
      if (!v) return {};
      if (!v->IsString()) {
        return invalid_argument(std::string("image config: history ") + key + " is not a string");
      }
      out_field.assign(v->GetString(), v->GetStringLength());
      return {};
    };
    MATCHLOCK_TRY(field("created", created));
    MATCHLOCK_TRY(field("created_by", entry.created_by));
    MATCHLOCK_TRY(field("comment", entry.comment));
    if (const auto* el = present(e, "empty_layer")) {
      if (!el->IsBool()) return invalid_argument("image config: history empty_layer is not a bool");
      entry.empty_layer = el->GetBool();
    }
    entry.created_unix = parse_rfc3339(created).value_or(0);
    out.push_back(std::move(entry));
  }
  return out;
}

std::string write_config_json(std::string_view base_config_json, const ImageSettings& settings,
                              const std::vector<std::string>& diff_ids,
                              const std::vector<HistoryEntry>& history, int64_t created_unix) {
  json::Document base;
  if (!base_config_json.empty()) base.Parse(base_config_json.data(), base_config_json.size());
  if (base.HasParseError() || !base.IsObject()) base.SetObject();  // scratch (or unreadable)

  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("created");
  put_string(w, format_rfc3339_utc(created_unix));
  for (const auto& [key, fallback] : kKeptStringFields) {
    const auto* v = present(base, key);
    std::string value = v && v->IsString() ? std::string(v->GetString(), v->GetStringLength()) : "";
    if (value.empty() && fallback) value = fallback();
    if (value.empty()) continue;
    w.Key(key);
    put_string(w, value);
  }
  if (const auto* f = present(base, "os.features")) {
    if (auto features = string_array(*f, "os.features"); features && !features->empty()) {
      w.Key("os.features");
      put_strings(w, *features);
    }
  }
  w.Key("config");
  put_settings(w, settings);
  w.Key("rootfs");
  w.StartObject();
  w.Key("type");
  w.String("layers");
  w.Key("diff_ids");
  put_strings(w, diff_ids);
  w.EndObject();
  w.Key("history");
  put_history(w, history);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace matchlock::dockerbuild
