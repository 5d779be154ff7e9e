#include "net/policy/plugins/usage_logger.h"

#include <unistd.h>

#include <rapidjson/document.h>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "net/policy/plugin_registry.h"
#include "net/policy/plugins/budget_gate.h"

using namespace matchlock;
using namespace matchlock::net::policy;
namespace fs = std::filesystem;

namespace {

struct TempLog {
  fs::path path;
  TempLog() {
    char dir[] = "/tmp/usage-test-XXXXXX";
    REQUIRE(::mkdtemp(dir) != nullptr);
    path = fs::path(dir) / "usage.jsonl";
  }
  ~TempLog() { fs::remove_all(path.parent_path()); }
  std::vector<rapidjson::Document> lines() const {
    std::vector<rapidjson::Document> out;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
      out.emplace_back();
      out.back().Parse(line.c_str());
      REQUIRE_FALSE(out.back().HasParseError());
    }
    return out;
  }
};

Request llm_request(const std::string& host = "openrouter.ai") {
  Request r;
  r.protocol = Protocol::kHttp;
  r.host = host;
  r.method = "POST";
  r.target = "/api/v1/chat/completions";
  return r;
}

Response response_of(const std::string& type, int status = 200) {
  Response r;
  r.status = status;
  r.headers = {{"Content-Type", type}};
  return r;
}

// Pushes `body` through the filter in pieces of `step` bytes; returns what came out.
std::string pump(BodyFilter& filter, std::string_view body, size_t step) {
  std::string out;
  for (size_t i = 0; i < body.size(); i += step) out += filter.on_data(body.substr(i, step));
  out += filter.on_end();
  return out;
}

}  // namespace

TEST_CASE("usage_logger_logs_openai_json_usage_and_passes_bytes_unchanged", "[usage_logger]") {
  TempLog log;
  auto ledger = UsageLedger::open(log.path);
  REQUIRE(ledger.ok());
  UsageLogger logger(*ledger);
  auto filter = logger.response_body_filter(llm_request("api.openai.com"),
                                            response_of("application/json; charset=utf-8"));
  REQUIRE(filter);
  CHECK_FALSE(filter->needs_whole_body());
  std::string body =
      R"({"id":"x","model":"gpt-4o-2024","usage":{"prompt_tokens":12,"completion_tokens":30,"total_tokens":42}})";
  CHECK(pump(*filter, body, 7) == body);
  auto lines = log.lines();
  REQUIRE(lines.size() == 1);
  CHECK(std::string(lines[0]["host"].GetString()) == "api.openai.com");
  CHECK(std::string(lines[0]["model"].GetString()) == "gpt-4o-2024");
  CHECK(lines[0]["prompt_tokens"].GetInt() == 12);
  CHECK(lines[0]["completion_tokens"].GetInt() == 30);
  CHECK(lines[0]["total_tokens"].GetInt() == 42);
  CHECK(lines[0]["cost_usd"].IsNull());
  std::string ts = lines[0]["ts"].GetString();
  CHECK(ts.size() == 24);
  CHECK(ts.back() == 'Z');
  CHECK((*ledger)->spent_usd() == 0);
}

TEST_CASE("usage_logger_reads_the_last_sse_usage_and_openrouter_cost", "[usage_logger]") {
  TempLog log;
  auto ledger = UsageLedger::open(log.path);
  REQUIRE(ledger.ok());
  UsageLogger logger(*ledger);
  auto filter = logger.response_body_filter(llm_request(), response_of("text/event-stream"));
  REQUIRE(filter);
  std::string body =
      ": OPENROUTER PROCESSING\n\n"
      "data: "
      "{\"model\":\"meta-llama/llama-3-8b\",\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\r\n\r\n"
      "data: {\"model\":\"meta-llama/llama-3-8b\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,"
      "\"completion_tokens\":2,\"total_tokens\":7,\"cost\":0.0125}}\n\n"
      "data: [DONE]\n\n";
  CHECK(pump(*filter, body, 3) == body);
  auto lines = log.lines();
  REQUIRE(lines.size() == 1);
  CHECK(std::string(lines[0]["model"].GetString()) == "meta-llama/llama-3-8b");
  CHECK(lines[0]["total_tokens"].GetInt() == 7);
  CHECK(lines[0]["cost_usd"].GetDouble() == Approx(0.0125));
  CHECK((*ledger)->spent_usd() == Approx(0.0125));
}

TEST_CASE("usage_logger_merges_anthropic_stream_usage", "[usage_logger]") {
  TempLog log;
  auto ledger = UsageLedger::open(log.path);
  REQUIRE(ledger.ok());
  UsageLogger logger(*ledger);
  auto filter = logger.response_body_filter(llm_request("api.anthropic.com"),
                                            response_of("text/event-stream"));
  REQUIRE(filter);
  std::string body =
      "event: message_start\n"
      "data: "
      "{\"type\":\"message_start\",\"message\":{\"model\":\"claude-3-5\",\"usage\":{\"input_"
      "tokens\":25,\"output_tokens\":1}}}\n\n"
      "event: message_delta\n"
      "data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":15}}\n\n";
  pump(*filter, body, 1000);
  auto lines = log.lines();
  REQUIRE(lines.size() == 1);
  CHECK(std::string(lines[0]["model"].GetString()) == "claude-3-5");
  CHECK(lines[0]["prompt_tokens"].GetInt() == 25);
  CHECK(lines[0]["completion_tokens"].GetInt() == 15);
  CHECK(lines[0]["total_tokens"].GetInt() == 40);
}

TEST_CASE("usage_logger_records_nothing_without_usage_or_on_abort", "[usage_logger]") {
  TempLog log;
  auto ledger = UsageLedger::open(log.path);
  REQUIRE(ledger.ok());
  UsageLogger logger(*ledger);
  SECTION("no usage, garbage, truncated") {
    for (std::string body : {std::string(R"({"data":[]})"), std::string("not json"),
                             std::string(R"({"usage":{"prompt_tokens":1)")}) {
      auto filter = logger.response_body_filter(llm_request(), response_of("application/json"));
      CHECK(pump(*filter, body, 4) == body);
    }
  }
  SECTION("aborted") {
    auto filter = logger.response_body_filter(llm_request(), response_of("application/json"));
    filter->on_data(R"({"usage":{"prompt_tokens":1}})");
    filter->on_abort();
  }
  SECTION("an SSE line over the bound is skipped, not kept") {
    auto filter = logger.response_body_filter(llm_request(), response_of("text/event-stream"));
    std::string huge = "data: {\"usage\":{\"cost\":1,\"pad\":\"" +
                       std::string(UsageLogger::kMaxSseLineBytes, 'x') + "\"}}\n\n";
    CHECK(pump(*filter, huge, 64 * 1024).size() == huge.size());
  }
  CHECK(log.lines().empty());
}

TEST_CASE("usage_logger_only_filters_successful_json_or_sse_identity_bodies", "[usage_logger]") {
  TempLog log;
  auto ledger = UsageLedger::open(log.path);
  REQUIRE(ledger.ok());
  UsageLogger logger(*ledger);
  CHECK_FALSE(logger.response_body_filter(llm_request(), response_of("text/html")));
  CHECK_FALSE(logger.response_body_filter(llm_request(), response_of("application/json", 500)));
  Response gzip = response_of("application/json");
  gzip.headers.push_back({"Content-Encoding", "gzip"});
  CHECK_FALSE(logger.response_body_filter(llm_request(), gzip));
  Response none;
  none.status = 200;
  CHECK_FALSE(logger.response_body_filter(llm_request(), none));
}

TEST_CASE("usage_ledger_reads_existing_spend_and_tolerates_garbage_lines", "[usage_logger]") {
  TempLog log;
  {
    std::ofstream out(log.path);
    out << R"({"cost_usd":1.5})"
        << "\n"
        << "garbage\n"
        << R"({"cost_usd":null})"
        << "\n"
        << R"({"cost_usd":"3"})"
        << "\n"
        << R"({"cost_usd":-9})"
        << "\n"
        << R"({"cost_usd":0.25})";  // no final newline
  }
  auto ledger = UsageLedger::open(log.path);
  REQUIRE(ledger.ok());
  CHECK((*ledger)->spent_usd() == Approx(1.75));
  UsageRecord record;
  record.host = "h";
  record.cost_usd = 0.5;
  (*ledger)->record(record, std::chrono::system_clock::now());
  CHECK((*ledger)->spent_usd() == Approx(2.25));
  auto again = UsageLedger::open(log.path);
  REQUIRE(again.ok());
  // The unterminated last line was ended before the new record went in: both count.
  CHECK((*again)->spent_usd() == Approx(2.25));

  auto unwritable = UsageLedger::open("/nonexistent-dir/usage.jsonl");
  REQUIRE_FALSE(unwritable.ok());
  CHECK(unwritable.error().message.find("/nonexistent-dir/usage.jsonl") != std::string::npos);
}

TEST_CASE("budget_gate_denies_http_with_429_once_spend_reaches_the_limit", "[budget_gate]") {
  TempLog log;
  {
    std::ofstream out(log.path);
    out << R"({"cost_usd":0.75})"
        << "\n";
  }
  PolicyConfig config;
  config.settings.usage_log_path = log.path;
  config.settings.budget_limit_usd = 1.0;
  config.allow_list = std::make_shared<AllowList>(EmptyListMeans::kAllowAll);
  config.private_ranges = std::make_shared<PrivateRangePolicy>();
  auto pipeline = make_pipeline(config, nullptr);
  REQUIRE(pipeline.ok());
  CHECK(pipeline->evaluate_gate(llm_request()).allowed);

  // A streamed call that costs 0.25 brings the spend to the limit.
  auto filters = pipeline->response_body_filters(llm_request(), response_of("text/event-stream"));
  REQUIRE(filters.size() == 1);
  pump(*filters[0], "data: {\"usage\":{\"cost\":0.25}}\n\n", 5);

  GateVerdict verdict = pipeline->evaluate_gate(llm_request());
  CHECK_FALSE(verdict.allowed);
  CHECK(verdict.plugin == "budget_gate");
  CHECK(verdict.reason.find("$1.0000") != std::string::npos);
  // The status travels in the plugin's Deny; check it directly.
  BudgetGate gate(*UsageLedger::open(log.path), 1.0);
  GateResult result = gate.gate(llm_request());
  REQUIRE(std::holds_alternative<Deny>(result));
  CHECK(std::get<Deny>(result).status == 429);
  // Connection-level requests are left to the HTTP requests inside them.
  Request tls = llm_request();
  tls.protocol = Protocol::kTls;
  CHECK(std::holds_alternative<Continue>(gate.gate(tls)));
}

TEST_CASE("budget_gate_requires_a_usage_log_and_a_sane_limit", "[budget_gate]") {
  PolicyConfig config;
  config.settings.budget_limit_usd = 5.0;
  auto missing = make_pipeline(config, nullptr);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.rfind("budget_gate: ", 0) == 0);
  CHECK(missing.error().message.find("usage log") != std::string::npos);

  TempLog log;
  config.settings.usage_log_path = log.path;
  config.settings.budget_limit_usd = -1;
  CHECK_FALSE(make_pipeline(config, nullptr).ok());

  // build_pipeline cannot report the error: it fails closed.
  config.settings.usage_log_path.clear();
  config.settings.budget_limit_usd = 5.0;
  Pipeline closed = build_pipeline(config, nullptr);
  GateVerdict verdict = closed.evaluate_gate(llm_request());
  CHECK_FALSE(verdict.allowed);
  CHECK(verdict.reason.find("usage log") != std::string::npos);
}
