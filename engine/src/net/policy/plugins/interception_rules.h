// interception_rules: the SDK's plain network rules (interception_rule.h) without callbacks
// (rules with a callback_id are the sdk_callback remote plugin's). Matching rules apply in
// list order:
//   before  block -> Deny 403; mutate -> set/delete headers, set/delete query, rewrite path
//           (transform_request: before secret_injector, so a rule can neither see nor move a
//           secret value)
//   after   block -> Deny 403 instead of the response; mutate -> set/delete response headers
//           (transform_response) and body replacements (response_body_filter: streamed per
//           "data:" line for text/event-stream, else on the whole body).
// A rule's block stops the evaluation; mutations of earlier rules are kept for nothing then.
#pragma once

#include <memory>
#include <vector>

#include "core/result.h"
#include "net/policy/event_sink.h"
#include "net/policy/interception_rule.h"
#include "net/policy/plugin.h"

namespace matchlock::net::policy {

struct PluginContext;

class InterceptionRules : public Plugin {
 public:
  InterceptionRules(std::vector<InterceptionRule> rules, EventSink* sink);

  std::string_view name() const override { return "interception_rules"; }
  TransformResult transform_request(Request& request) override;
  TransformResult transform_response(const Request& request, Response& response) override;
  std::unique_ptr<BodyFilter> response_body_filter(const Request& request,
                                                   const Response& response) override;

 private:
  void emit(EventType type, const InterceptionRule& rule, const Request& request,
            std::string_view what) const;

  std::vector<InterceptionRule> before_;
  std::vector<InterceptionRule> after_;
  EventSink* sink_;
};

// Rules applied to a request / response head, shared with sdk_callback (which applies the
// answers of callbacks the same way).
void apply_request_mutations(const InterceptionRule& rule, Request& request);
void apply_response_mutations(const InterceptionRule& rule, Response& response);

// kInvalidArgument naming the rule index and field ("interception rules: rules[1].phase: ...").
Result<std::unique_ptr<Plugin>> make_interception_rules(const PluginContext& context);

}  // namespace matchlock::net::policy
