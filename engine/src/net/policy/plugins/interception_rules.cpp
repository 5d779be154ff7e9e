#include "net/policy/plugins/interception_rules.h"

#include "net/policy/plugin_registry.h"
#include "net/policy/request_target.h"

namespace matchlock::net::policy {

void apply_request_mutations(const InterceptionRule& rule, Request& request) {
  for (const auto& name : rule.delete_headers) remove_header(request.headers, name);
  for (const auto& [name, value] : rule.set_headers) set_header(request.headers, name, value);
  if (rule.set_query.empty() && rule.delete_query.empty() && rule.rewrite_path.empty()) return;
  RequestTarget target = RequestTarget::parse(request.target);
  for (const auto& key : rule.delete_query) target.erase(key);
  for (const auto& [key, value] : rule.set_query) target.set(key, value);
  if (!rule.rewrite_path.empty()) target.path = rule.rewrite_path;
  request.target = target.to_string();
}

void apply_response_mutations(const InterceptionRule& rule, Response& response) {
  for (const auto& name : rule.delete_response_headers) remove_header(response.headers, name);
  for (const auto& [name, value] : rule.set_response_headers) {
    set_header(response.headers, name, value);
  }
}

InterceptionRules::InterceptionRules(std::vector<InterceptionRule> rules, EventSink* sink)
    : sink_(sink) {
  for (auto& rule : rules) {
    if (!rule.callback_id.empty() && rule.action != RuleAction::kBlock && !rule.mutates()) {
      continue;  // a pure callback rule: sdk_callback's alone
    }
    (rule.phase == RulePhase::kBefore ? before_ : after_).push_back(std::move(rule));
  }
}

void InterceptionRules::emit(EventType type, const InterceptionRule& rule, const Request& request,
                             std::string_view what) const {
  if (sink_ == nullptr) return;
  Event event;
  event.type = type;
  event.plugin = std::string(name());
  event.summary =
      rule.label() + " " + std::string(what) + " " + request.method + " " + request.host;
  event.tags = {std::string(what)};
  event.data = {{"host", request.host}, {"rule", rule.label()}, {"action", std::string(what)}};
  sink_->on_event(event);
}

TransformResult InterceptionRules::transform_request(Request& request) {
  if (request.protocol != Protocol::kHttp) return Continue{};
  for (const InterceptionRule& rule : before_) {
    if (!rule.matches(request)) continue;
    if (rule.action == RuleAction::kBlock) {
      return Deny{"blocked by interception " + rule.label(), 403};
    }
    apply_request_mutations(rule, request);
    emit(EventType::kRequestTransform, rule, request, "mutated");
  }
  return Continue{};
}

TransformResult InterceptionRules::transform_response(const Request& request, Response& response) {
  if (request.protocol != Protocol::kHttp) return Continue{};
  for (const InterceptionRule& rule : after_) {
    if (!rule.matches(request)) continue;
    if (rule.action == RuleAction::kBlock) {
      return Deny{"response blocked by interception " + rule.label(), 403};
    }
    if (!rule.set_response_headers.empty() || !rule.delete_response_headers.empty()) {
      apply_response_mutations(rule, response);
      emit(EventType::kResponseTransform, rule, request, "mutated");
    }
  }
  return Continue{};
}

std::unique_ptr<BodyFilter> InterceptionRules::response_body_filter(const Request& request,
                                                                    const Response& response) {
  if (request.protocol != Protocol::kHttp) return nullptr;
  std::vector<BodyReplacement> replacements;
  for (const InterceptionRule& rule : after_) {
    if (rule.action == RuleAction::kBlock || !rule.matches(request)) continue;
    replacements.insert(replacements.end(), rule.body_replacements.begin(),
                        rule.body_replacements.end());
  }
  if (replacements.empty()) return nullptr;
  const HeaderField* type = find_header(response.headers, "content-type");
  bool event_stream = type != nullptr && is_event_stream(type->value);
  return std::make_unique<ReplacementFilter>(std::move(replacements), event_stream);
}

Result<std::unique_ptr<Plugin>> make_interception_rules(const PluginContext& context) {
  auto rules = parse_interception_rules(context.config.settings.interception_rules_json);
  if (!rules.ok()) return rules.error();
  if (rules->empty()) return std::unique_ptr<Plugin>();
  return std::unique_ptr<Plugin>(
      std::make_unique<InterceptionRules>(std::move(*rules), context.sink));
}

}  // namespace matchlock::net::policy
