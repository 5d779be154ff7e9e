// usage_logger: records what each LLM call cost. For every successful (2xx) HTTP response whose
// body is JSON or an SSE stream (and not content-encoded: a compressed body cannot be read
// here), it adds a response body filter that passes the bytes on unchanged while reading:
//   - a JSON body: the document's "usage" and "model";
//   - text/event-stream: each "data:" event that is a JSON object; its "model" and the fields
//     of its "usage" are remembered, later events overriding earlier ones field by field (the
//     OpenAI final chunk carries them all; Anthropic splits input and output tokens between
//     message_start and message_delta).
// Usage fields: prompt_tokens | input_tokens, completion_tokens | output_tokens, total_tokens
// (prompt + completion when the provider omits it), cost (OpenRouter: US dollars). When the
// body ended normally and carried usage, one line goes to the usage log (usage_ledger.h); an
// aborted exchange or a body without usage records nothing. No price is ever guessed: cost_usd
// is null unless the provider reported usage.cost.
//
// Threat model: the body comes from upstream (or a local model server) and is untrusted. What
// the filter keeps is bounded: a JSON body up to kMaxJsonBytes (larger: not read), one SSE
// line up to kMaxSseLineBytes (longer: skipped), plus the usage seen so far.
#pragma once

#include <memory>

#include "core/result.h"
#include "net/policy/plugin.h"
#include "net/policy/usage_ledger.h"

namespace matchlock::net::policy {

struct PluginContext;

class UsageLogger : public Plugin {
 public:
  static constexpr size_t kMaxJsonBytes = 8 * 1024 * 1024;
  static constexpr size_t kMaxSseLineBytes = 1024 * 1024;

  explicit UsageLogger(std::shared_ptr<UsageLedger> ledger) : ledger_(std::move(ledger)) {}

  std::string_view name() const override { return "usage_logger"; }
  std::unique_ptr<BodyFilter> response_body_filter(const Request& request,
                                                   const Response& response) override;

 private:
  std::shared_ptr<UsageLedger> ledger_;
};

Result<std::unique_ptr<Plugin>> make_usage_logger(const PluginContext& context);

}  // namespace matchlock::net::policy
