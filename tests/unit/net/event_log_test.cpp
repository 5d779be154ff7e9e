#include "net/policy/event_log.h"

#include <fcntl.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "net/policy/pipeline.h"
#include "net/policy/plugins/secret_injector.h"
#include "temp_dir.h"

using matchlock::testing::TempDir;

using namespace matchlock;
using namespace matchlock::net::policy;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> read_lines(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The schema's required fields and their types, read from rpc-schema/event-log.schema.json so
// the test and the schema cannot drift apart.
rapidjson::Document load_schema() {
  fs::path source(__FILE__);
  if (source.is_relative()) {
    // CMake compiles from the build directory; the test binary lives in <build>/tests/.
    source = fs::canonical("/proc/self/exe").parent_path().parent_path() / source;
  }
  fs::path schema = source.parent_path() / "../../../rpc-schema/event-log.schema.json";
  std::string text = read_all(schema);
  REQUIRE_FALSE(text.empty());
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  REQUIRE_FALSE(doc.HasParseError());
  return doc;
}

// Checks one line against the schema: valid JSON object, every required field with its type,
// no other field, ts in RFC 3339 UTC with milliseconds, a known event_type.
void check_line_against_schema(const std::string& line, const rapidjson::Document& schema) {
  INFO(line);
  rapidjson::Document doc;
  doc.Parse(line.c_str(), line.size());
  REQUIRE_FALSE(doc.HasParseError());
  REQUIRE(doc.IsObject());
  const auto& properties = schema["properties"];
  for (const auto& required : schema["required"].GetArray()) {
    std::string name = required.GetString();
    INFO(name);
    REQUIRE(doc.HasMember(name.c_str()));
    const auto& value = doc[name.c_str()];
    const auto& spec = properties[name.c_str()];
    if (spec.HasMember("type")) {
      std::string type = spec["type"].GetString();
      if (type == "string") CHECK(value.IsString());
      if (type == "array") CHECK(value.IsArray());
      if (type == "object") CHECK(value.IsObject());
    }
    if (spec.HasMember("enum")) {
      bool known = false;
      for (const auto& option : spec["enum"].GetArray()) {
        known = known || (value.IsString() && std::string(option.GetString()) == value.GetString());
      }
      CHECK(known);
    }
  }
  for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
    CHECK(properties.HasMember(it->name.GetString()));
  }
  for (const auto& tag : doc["tags"].GetArray()) CHECK(tag.IsString());
  std::set<std::string> keys;
  for (auto it = doc["data"].MemberBegin(); it != doc["data"].MemberEnd(); ++it) {
    CHECK((it->value.IsString() || it->value.IsInt64() || it->value.IsBool()));
    CHECK(keys.insert(it->name.GetString()).second);  // no duplicate members
  }
  std::regex ts(properties["ts"]["pattern"].GetString());
  CHECK(std::regex_match(std::string(doc["ts"].GetString()), ts));
}

std::unique_ptr<EventLog> open_log(const fs::path& path) {
  auto log = EventLog::open(path.string(), {"run-42", "claude-code"});
  REQUIRE(log.ok());
  return std::move(*log);
}

Event sample_event() {
  Event event;
  event.type = EventType::kRequestTransform;
  event.plugin = "secret_injector";
  event.summary = "injected secret KEY into a request to api.example.com";
  event.tags = {"secret"};
  event.data = {{"action", std::string("injected")},
                {"secret", std::string("KEY")},
                {"count", int64_t{2}},
                {"ok", true}};
  return event;
}

}  // namespace

TEST_CASE("event_log_writes_one_schema_valid_line_per_event", "[events]") {
  TempDir dir;
  auto log = open_log(dir.path / "events.jsonl");
  log->on_event(sample_event());
  log->on_decision({"gate", "host_filter", "api.example.com", true, "host matches *.example.com"});
  log->on_decision({"route", "local_model_router", "", true, "local"});
  log->on_decision({"response", "pipeline", "x", false, "no"});
  auto lines = read_lines(dir.path / "events.jsonl");
  REQUIRE(lines.size() == 4);
  auto schema = load_schema();
  for (const auto& line : lines) check_line_against_schema(line, schema);

  rapidjson::Document first;
  first.Parse(lines[0].c_str());
  CHECK(std::string(first["run_id"].GetString()) == "run-42");
  CHECK(std::string(first["agent_system"].GetString()) == "claude-code");
  CHECK(std::string(first["event_type"].GetString()) == "request_transform");
  CHECK(std::string(first["data"]["action"].GetString()) == "injected");
  CHECK(first["data"]["count"].GetInt64() == 2);
  CHECK(first["data"]["ok"].GetBool());

  rapidjson::Document gate;
  gate.Parse(lines[1].c_str());
  CHECK(std::string(gate["event_type"].GetString()) == "gate_decision");
  CHECK(std::string(gate["plugin"].GetString()) == "host_filter");
  CHECK(gate["data"]["allowed"].GetBool());
  rapidjson::Document route;
  route.Parse(lines[2].c_str());
  CHECK(std::string(route["event_type"].GetString()) == "route_decision");
  rapidjson::Document response;
  response.Parse(lines[3].c_str());
  CHECK(std::string(response["event_type"].GetString()) == "response_transform");
}

TEST_CASE("event_log_appends_to_an_existing_file", "[events]") {
  TempDir dir;
  fs::path path = dir.path / "events.jsonl";
  { std::ofstream(path) << "{\"earlier\":true}\n"; }
  auto log = open_log(path);
  log->on_event(sample_event());
  auto lines = read_lines(path);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "{\"earlier\":true}");
  CHECK((fs::status(dir.path / "fresh.jsonl").type() == fs::file_type::not_found));
  auto fresh = open_log(dir.path / "fresh.jsonl");
  auto perms = fs::status(dir.path / "fresh.jsonl").permissions();
  CHECK((perms & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none);
}

TEST_CASE("event_log_timestamps_are_rfc3339_utc_with_milliseconds", "[events]") {
  using namespace std::chrono;
  system_clock::time_point t{milliseconds(1764750391042)};  // 2025-12-03T08:26:31.042Z
  CHECK(rfc3339_utc_millis(t) == "2025-12-03T08:26:31.042Z");
  CHECK(rfc3339_utc_millis(system_clock::time_point{}) == "1970-01-01T00:00:00.000Z");
}

TEST_CASE("event_log_lines_stay_one_valid_line_for_hostile_strings", "[events]") {
  TempDir dir;
  auto log = open_log(dir.path / "events.jsonl");
  Event event = sample_event();
  constexpr char kHostile[] =
      "a\nb\r\"c\\\0d\x01\x7f\xff\xfe\xc3(\xed\xa0\x80\xf4\x90\x80\x80 \xe2\x82";
  std::string hostile(kHostile, sizeof kHostile - 1);
  event.summary = hostile + std::string(100000, 'S');
  event.plugin = hostile;
  event.tags = std::vector<std::string>(1000, hostile);
  for (int i = 0; i < 200; ++i)
    event.data.push_back({std::to_string(i) + hostile, hostile + std::string(5000, 'D')});
  log->on_event(event);
  log->on_decision({"gate", hostile, hostile, false, hostile});
  auto lines = read_lines(dir.path / "events.jsonl");
  REQUIRE(lines.size() == 2);
  auto schema = load_schema();
  for (const auto& line : lines) {
    CHECK(line.size() + 1 <= EventLog::kMaxLineBytes);
    check_line_against_schema(line, schema);
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseValidateEncodingFlag>(line.c_str(), line.size());
    CHECK_FALSE(doc.HasParseError());  // valid UTF-8 throughout
  }
  rapidjson::Document first;
  first.Parse(lines[0].c_str());
  CHECK(first["tags"].Size() == EventLog::kMaxTags);
  CHECK(first["data"]["truncated"].GetBool());
  std::string summary(first["summary"].GetString(), first["summary"].GetStringLength());
  CHECK(summary.size() <= EventLog::kMaxSummaryBytes);
  CHECK(summary.ends_with("\xE2\x80\xA6"));  // cut, and marked with an ellipsis
  CHECK(first["data"].MemberCount() > 2);
}

TEST_CASE("event_log_lines_never_interleave_between_writers", "[events]") {
  TempDir dir;
  fs::path path = dir.path / "events.jsonl";
  auto a = open_log(path);
  auto b = open_log(path);
  Event big = sample_event();
  big.summary = std::string(900, 'x');
  std::thread ta([&] {
    for (int i = 0; i < 300; ++i) a->on_event(big);
  });
  std::thread tb([&] {
    for (int i = 0; i < 300; ++i) b->on_event(big);
  });
  ta.join();
  tb.join();
  auto lines = read_lines(path);
  REQUIRE(lines.size() == 600);
  for (const auto& line : lines) {
    rapidjson::Document doc;
    doc.Parse(line.c_str(), line.size());
    CHECK_FALSE(doc.HasParseError());
  }
}

TEST_CASE("event_log_write_errors_are_counted_and_never_fatal", "[events]") {
  // /dev/full accepts the open and fails every write with ENOSPC.
  auto log = EventLog::open("/dev/full", {"run", ""});
  REQUIRE(log.ok());
  (*log)->on_event(sample_event());
  (*log)->on_event(sample_event());
  CHECK((*log)->failed_writes() == 2);  // and one warning on stderr, not two
  CHECK_FALSE(EventLog::open("/nonexistent-dir/x.jsonl", {"run", ""}).ok());
}

TEST_CASE("event_log_never_holds_a_secret_value", "[events][secrets]") {
  TempDir dir;
  fs::path path = dir.path / "events.jsonl";
  auto log = open_log(path);
  const std::string value = "sk-live-NEVER-IN-THE-LOG";
  const std::string placeholder = "SANDBOX_SECRET_00112233445566778899aabbccddeeff";
  Pipeline pipeline(log.get());
  auto injector =
      SecretInjector::create({{"KEY", value, placeholder, {"api.example.com"}}}, log.get());
  REQUIRE(injector.ok());
  pipeline.add(std::move(*injector));

  Request good;
  good.protocol = Protocol::kHttp;
  good.host = good.sni = good.dns_name = "api.example.com";
  good.target = "/?key=" + placeholder;
  good.headers = {{"Host", "api.example.com"}, {"Authorization", "Bearer " + placeholder}};
  CHECK(pipeline.apply_request_transforms(good).allowed);
  CHECK(good.target == "/?key=" + value);

  Request bad = good;
  bad.host = bad.sni = bad.dns_name = "evil.example";
  bad.target = "/?key=" + placeholder;
  bad.headers = {{"Host", "evil.example"}, {"Authorization", "Bearer " + placeholder}};
  CHECK_FALSE(pipeline.apply_request_transforms(bad).allowed);

  std::string text = read_all(path);
  CHECK(text.find(value) == std::string::npos);
  auto lines = read_lines(path);
  REQUIRE(lines.size() == 3);  // injected; blocked (plugin); denied (pipeline decision)
  auto schema = load_schema();
  for (const auto& line : lines) check_line_against_schema(line, schema);
  CHECK(lines[0].find("\"action\":\"injected\"") != std::string::npos);
  CHECK(lines[0].find("\"secret\":\"KEY\"") != std::string::npos);
  CHECK(lines[1].find("\"action\":\"blocked\"") != std::string::npos);
}
