// The SDK's network interception rules (rpc `create` network.interception.rules), parsed and
// validated once when the sandbox is created. The wire format, field by field:
//   name                     free text, for events
//   phase                    "before" (default) | "after", case-insensitive
//   hosts                    host patterns (host_pattern.h grammar); empty = every host
//   methods                  HTTP methods, case-insensitive; empty = every method
//   path                     a path glob (request_target.h: Go's path.Match); empty = every path
//   action                   "allow" (default) | "block" | "mutate"; allow + mutations = mutate
//   callback_id, timeout_ms  an SDK callback (plugins/sdk_callback.h); 0 = default deadline
//   before: set_headers {name: value}, delete_headers [name], set_query {key: value},
//           delete_query [key], rewrite_path "/new"
//   after:  set_response_headers, delete_response_headers, body_replacements [{find, replace}]
// Mutations of the other phase are ignored; a rule with no effect (allow, no mutation for its
// phase, no callback) is dropped. Header names are canonicalised ("x-a" -> "X-A").
// Errors are kInvalidArgument: "rules[2].methods[0]: must be a string".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "net/policy/body_replacement.h"
#include "net/policy/host_pattern.h"
#include "net/policy/request.h"

namespace matchlock::net::policy {

enum class RulePhase { kBefore, kAfter };
enum class RuleAction { kAllow, kBlock, kMutate };

struct InterceptionRule {
  size_t index = 0;  // position in the list as received, for messages
  std::string name;
  RulePhase phase = RulePhase::kBefore;
  std::vector<HostPattern> hosts;
  std::vector<std::string> methods;  // uppercased
  std::string path;
  RuleAction action = RuleAction::kAllow;
  std::string callback_id;
  uint32_t timeout_ms = 0;
  std::vector<std::pair<std::string, std::string>> set_headers;
  std::vector<std::string> delete_headers;
  std::vector<std::pair<std::string, std::string>> set_query;
  std::vector<std::string> delete_query;
  std::string rewrite_path;
  std::vector<std::pair<std::string, std::string>> set_response_headers;
  std::vector<std::string> delete_response_headers;
  std::vector<BodyReplacement> body_replacements;

  // Host, method and path (the target up to '?') all match.
  bool matches(const Request& request) const;
  // The rule changes something in its own phase.
  bool mutates() const;
  // "rule 2 (r1)" for reasons and events.
  std::string label() const;
};

// Rules in list order, no-effect rules dropped. Empty text = no rules.
Result<std::vector<InterceptionRule>> parse_interception_rules(std::string_view json);

}  // namespace matchlock::net::policy
