#include "net/policy/plugins/usage_logger.h"

#include <rapidjson/document.h>

#include "core/ascii.h"
#include "core/json.h"
#include "net/policy/body_replacement.h"
#include "net/policy/plugin_registry.h"

namespace matchlock::net::policy {
namespace {

// What the body said so far; each field is overridden by a later event that carries it.
struct UsageSeen {
  bool any = false;
  std::string model;
  std::optional<int64_t> prompt, completion, total;
  std::optional<double> cost;
};

const rapidjson::Value* object_member(const rapidjson::Value& object, const char* name) {
  auto it = object.FindMember(name);
  return it != object.MemberEnd() && it->value.IsObject() ? &it->value : nullptr;
}

void take_count(const rapidjson::Value& usage, const char* name, std::optional<int64_t>& into) {
  auto it = usage.FindMember(name);
  if (it != usage.MemberEnd() && it->value.IsInt64()) into = it->value.GetInt64();
}

// Reads one JSON object (a whole body or one SSE event) into `seen`.
void absorb(const rapidjson::Value& doc, UsageSeen& seen) {
  if (!doc.IsObject()) return;
  const rapidjson::Value* message = object_member(doc, "message");  // Anthropic message_start
  for (const rapidjson::Value* holder : {&doc, message}) {
    if (holder == nullptr) continue;
    auto model = holder->FindMember("model");
    if (model != holder->MemberEnd() && model->value.IsString()) {
      seen.model.assign(model->value.GetString(), model->value.GetStringLength());
    }
    const rapidjson::Value* usage = object_member(*holder, "usage");
    if (usage == nullptr) continue;
    seen.any = true;
    take_count(*usage, "prompt_tokens", seen.prompt);
    take_count(*usage, "input_tokens", seen.prompt);
    take_count(*usage, "completion_tokens", seen.completion);
    take_count(*usage, "output_tokens", seen.completion);
    take_count(*usage, "total_tokens", seen.total);
    auto cost = usage->FindMember("cost");
    if (cost != usage->MemberEnd() && cost->value.IsNumber()) seen.cost = cost->value.GetDouble();
  }
}

void absorb_text(std::string_view text, UsageSeen& seen) {
  json::Document doc;
  doc.Parse(text.data(), text.size());
  if (!doc.HasParseError()) absorb(doc, seen);
}

class UsageFilter : public BodyFilter {
 public:
  UsageFilter(std::shared_ptr<UsageLedger> ledger, std::string host, bool event_stream)
      : ledger_(std::move(ledger)), host_(std::move(host)), event_stream_(event_stream) {}

  std::string on_data(std::string_view chunk) override {
    if (event_stream_) {
      read_lines(chunk);
    } else if (!too_big_) {
      too_big_ = held_.size() + chunk.size() > UsageLogger::kMaxJsonBytes;
      if (too_big_) {
        std::string().swap(held_);
      } else {
        held_.append(chunk);
      }
    }
    return std::string(chunk);
  }

  std::string on_end() override {
    if (event_stream_) {
      if (!skipping_line_) read_line(held_);
    } else if (!too_big_) {
      absorb_text(held_, seen_);
    }
    std::string().swap(held_);
    if (seen_.any) record();
    return {};
  }

 private:
  void read_lines(std::string_view chunk) {
    while (!chunk.empty()) {
      size_t newline = chunk.find('\n');
      std::string_view piece = chunk.substr(0, newline);
      chunk = newline == std::string_view::npos ? std::string_view() : chunk.substr(newline + 1);
      if (!skipping_line_) {
        held_.append(piece);
        if (held_.size() > UsageLogger::kMaxSseLineBytes) {
          skipping_line_ = true;
          std::string().swap(held_);
        }
      }
      if (newline == std::string_view::npos) return;
      if (!skipping_line_) read_line(held_);
      held_.clear();
      skipping_line_ = false;
    }
  }

  void read_line(std::string_view line) {
    constexpr std::string_view kData = "data:";
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.substr(0, kData.size()) != kData) return;
    line.remove_prefix(kData.size());
    if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    if (line.empty() || line.front() != '{') return;  // "[DONE]" and other non-objects
    absorb_text(line, seen_);
  }

  void record() {
    UsageRecord record;
    record.host = host_;
    record.model = seen_.model;
    record.prompt_tokens = seen_.prompt;
    record.completion_tokens = seen_.completion;
    record.total_tokens = seen_.total;
    if (!record.total_tokens && seen_.prompt && seen_.completion) {
      record.total_tokens = *seen_.prompt + *seen_.completion;
    }
    record.cost_usd = seen_.cost;
    ledger_->record(record, std::chrono::system_clock::now());
  }

  std::shared_ptr<UsageLedger> ledger_;
  std::string host_;
  bool event_stream_;
  std::string held_;  // JSON: the body so far; SSE: the current line
  bool too_big_ = false;
  bool skipping_line_ = false;
  UsageSeen seen_;
};

bool is_json(std::string_view content_type) {
  constexpr std::string_view kJson = "application/json";
  return content_type.size() >= kJson.size() &&
         equals_ignoring_ascii_case(content_type.substr(0, kJson.size()), kJson);
}

}  // namespace

std::unique_ptr<BodyFilter> UsageLogger::response_body_filter(const Request& request,
                                                              const Response& response) {
  if (request.protocol != Protocol::kHttp || response.status < 200 || response.status > 299) {
    return nullptr;
  }
  const HeaderField* encoding = find_header(response.headers, "content-encoding");
  if (encoding != nullptr && !equals_ignoring_ascii_case(encoding->value, "identity")) {
    return nullptr;
  }
  const HeaderField* type = find_header(response.headers, "content-type");
  if (type == nullptr) return nullptr;
  bool event_stream = is_event_stream(type->value);
  if (!event_stream && !is_json(type->value)) return nullptr;
  return std::make_unique<UsageFilter>(ledger_, request.host, event_stream);
}

Result<std::unique_ptr<Plugin>> make_usage_logger(const PluginContext& context) {
  if (!context.usage) return std::unique_ptr<Plugin>();
  return std::unique_ptr<Plugin>(std::make_unique<UsageLogger>(context.usage));
}

}  // namespace matchlock::net::policy
