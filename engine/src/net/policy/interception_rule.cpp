#include "net/policy/interception_rule.h"

#include <rapidjson/document.h>

#include <algorithm>

#include "core/ascii.h"
#include "core/json.h"
#include "net/policy/request_target.h"

namespace matchlock::net::policy {
namespace {

using rapidjson::Value;

std::string text_of(const Value& v) {
  return std::string(v.GetString(), v.GetStringLength());
}

std::string upper(std::string text) {
  for (char& c : text) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  return text;
}

// Reads the members of one rule object; `where` is "rules[i]".
class RuleReader {
 public:
  RuleReader(const Value& object, std::string where) : object_(object), where_(std::move(where)) {}

  Error fail(const std::string& field, const std::string& why) const {
    return invalid_argument(where_ + "." + field + ": " + why);
  }
  const Value* find(const char* field) const {
    auto it = object_.FindMember(field);
    return it == object_.MemberEnd() || it->value.IsNull() ? nullptr : &it->value;
  }
  Status string(const char* field, std::string& out) const {
    const Value* v = find(field);
    if (v == nullptr) return {};
    if (!v->IsString()) return fail(field, "must be a string");
    out = text_of(*v);
    return {};
  }
  Status strings(const char* field, std::vector<std::string>& out) const {
    const Value* v = find(field);
    if (v == nullptr) return {};
    if (!v->IsArray()) return fail(field, "must be an array of strings");
    for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
      if (!(*v)[i].IsString())
        return fail(std::string(field) + "[" + std::to_string(i) + "]", "must be a string");
      out.push_back(text_of((*v)[i]));
    }
    return {};
  }
  Status string_map(const char* field,
                    std::vector<std::pair<std::string, std::string>>& out) const {
    const Value* v = find(field);
    if (v == nullptr) return {};
    if (!v->IsObject()) return fail(field, "must be an object of strings");
    for (auto it = v->MemberBegin(); it != v->MemberEnd(); ++it) {
      std::string key = text_of(it->name);
      if (!it->value.IsString()) return fail(std::string(field) + "." + key, "must be a string");
      out.emplace_back(key, text_of(it->value));
    }
    return {};
  }

 private:
  const Value& object_;
  std::string where_;
};

// An RFC 9110 token: letters, digits and !#$%&'*+-.^_`|~.
bool valid_header_name(std::string_view name) {
  static constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           kSymbols.find(c) != std::string_view::npos;
  });
}

bool has_line_break(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

// Validates and canonicalises header names and values (they go into an HTTP head).
Status check_headers(const RuleReader& reader, const char* field,
                     std::vector<std::pair<std::string, std::string>>& headers) {
  for (auto& [name, value] : headers) {
    if (!valid_header_name(name)) return reader.fail(field, "invalid header name \"" + name + "\"");
    if (has_line_break(value))
      return reader.fail(std::string(field) + "." + name, "contains a line break or NUL");
    name = canonical_header_name(name);
  }
  return {};
}

Status check_header_names(const RuleReader& reader, const char* field,
                          std::vector<std::string>& names) {
  for (auto& name : names) {
    if (!valid_header_name(name)) return reader.fail(field, "invalid header name \"" + name + "\"");
    name = canonical_header_name(name);
  }
  return {};
}

// The long but flat list of fields of one rule, read in wire order.
Result<InterceptionRule> parse_rule(const Value& object, size_t index) {
  RuleReader r(object, "rules[" + std::to_string(index) + "]");
  if (!object.IsObject())
    return invalid_argument("rules[" + std::to_string(index) + "]: must be an object");
  InterceptionRule rule;
  rule.index = index;
  std::string phase, action, path;
  std::vector<std::string> hosts;
  MATCHLOCK_TRY(r.string("name", rule.name));
  MATCHLOCK_TRY(r.string("phase", phase));
  MATCHLOCK_TRY(r.strings("hosts", hosts));
  MATCHLOCK_TRY(r.strings("methods", rule.methods));
  MATCHLOCK_TRY(r.string("path", rule.path));
  MATCHLOCK_TRY(r.string("action", action));
  MATCHLOCK_TRY(r.string("callback_id", rule.callback_id));
  MATCHLOCK_TRY(r.string_map("set_headers", rule.set_headers));
  MATCHLOCK_TRY(r.strings("delete_headers", rule.delete_headers));
  MATCHLOCK_TRY(r.string_map("set_query", rule.set_query));
  MATCHLOCK_TRY(r.strings("delete_query", rule.delete_query));
  MATCHLOCK_TRY(r.string("rewrite_path", rule.rewrite_path));
  MATCHLOCK_TRY(r.string_map("set_response_headers", rule.set_response_headers));
  MATCHLOCK_TRY(r.strings("delete_response_headers", rule.delete_response_headers));

  if (phase.empty() || equals_ignoring_ascii_case(phase, "before")) {
    rule.phase = RulePhase::kBefore;
  } else if (equals_ignoring_ascii_case(phase, "after")) {
    rule.phase = RulePhase::kAfter;
  } else {
    return r.fail("phase", "must be \"before\" or \"after\", not \"" + phase + "\"");
  }
  for (const auto& text : hosts) {
    auto pattern = HostPattern::parse(text);
    if (!pattern.ok()) return r.fail("hosts", pattern.error().message);
    rule.hosts.push_back(std::move(*pattern));
  }
  for (auto& method : rule.methods) method = upper(method);
  if (auto glob = validate_path_glob(rule.path); !glob.ok()) {
    return r.fail("path", glob.error().message);
  }
  if (action.empty() || equals_ignoring_ascii_case(action, "allow")) {
    rule.action = RuleAction::kAllow;
  } else if (equals_ignoring_ascii_case(action, "block")) {
    rule.action = RuleAction::kBlock;
  } else if (equals_ignoring_ascii_case(action, "mutate")) {
    rule.action = RuleAction::kMutate;
  } else {
    return r.fail("action", "must be allow, block or mutate, not \"" + action + "\"");
  }
  if (const Value* timeout = r.find("timeout_ms")) {
    if (!timeout->IsUint()) return r.fail("timeout_ms", "must be a non-negative integer");
    rule.timeout_ms = timeout->GetUint();
  }
  if (!rule.rewrite_path.empty() &&
      (rule.rewrite_path.front() != '/' || has_line_break(rule.rewrite_path) ||
       rule.rewrite_path.find_first_of(" ?#") != std::string::npos)) {
    return r.fail("rewrite_path", "must be an absolute path without spaces, '?' or '#'");
  }
  MATCHLOCK_TRY(check_headers(r, "set_headers", rule.set_headers));
  MATCHLOCK_TRY(check_header_names(r, "delete_headers", rule.delete_headers));
  MATCHLOCK_TRY(check_headers(r, "set_response_headers", rule.set_response_headers));
  MATCHLOCK_TRY(check_header_names(r, "delete_response_headers", rule.delete_response_headers));
  if (const Value* list = r.find("body_replacements")) {
    if (!list->IsArray()) return r.fail("body_replacements", "must be an array");
    for (rapidjson::SizeType i = 0; i < list->Size(); ++i) {
      std::string where = "body_replacements[" + std::to_string(i) + "]";
      const Value& item = (*list)[i];
      if (!item.IsObject()) return r.fail(where, "must be an object {find, replace}");
      RuleReader inner(item, "rules[" + std::to_string(index) + "]." + where);
      BodyReplacement replacement;
      MATCHLOCK_TRY(inner.string("find", replacement.find));
      MATCHLOCK_TRY(inner.string("replace", replacement.replace));
      if (replacement.find.empty()) return inner.fail("find", "must not be empty");
      rule.body_replacements.push_back(std::move(replacement));
    }
  }
  if (rule.action == RuleAction::kAllow && rule.mutates()) rule.action = RuleAction::kMutate;
  return rule;
}

}  // namespace

bool InterceptionRule::matches(const Request& request) const {
  if (!hosts.empty() && std::none_of(hosts.begin(), hosts.end(), [&](const HostPattern& p) {
        return p.matches(request.host);
      })) {
    return false;
  }
  if (!methods.empty() && std::none_of(methods.begin(), methods.end(), [&](const std::string& m) {
        return equals_ignoring_ascii_case(m, request.method);
      })) {
    return false;
  }
  if (path.empty()) return true;
  return path_glob_matches(path, RequestTarget::parse(request.target).path);
}

bool InterceptionRule::mutates() const {
  if (phase == RulePhase::kBefore) {
    return !set_headers.empty() || !delete_headers.empty() || !set_query.empty() ||
           !delete_query.empty() || !rewrite_path.empty();
  }
  return !set_response_headers.empty() || !delete_response_headers.empty() ||
         !body_replacements.empty();
}

std::string InterceptionRule::label() const {
  return "rule " + std::to_string(index) + (name.empty() ? "" : " (" + name + ")");
}

Result<std::vector<InterceptionRule>> parse_interception_rules(std::string_view json) {
  std::vector<InterceptionRule> rules;
  if (json.find_first_not_of(" \t\r\n") == std::string_view::npos) return rules;
  json::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError()) return invalid_argument("rules: not valid JSON");
  if (!doc.IsArray()) return invalid_argument("rules: must be an array");
  for (rapidjson::SizeType i = 0; i < doc.Size(); ++i) {
    auto rule = parse_rule(doc[i], i);
    if (!rule.ok()) return rule.error();
    bool has_effect = rule->action != RuleAction::kAllow || !rule->callback_id.empty();
    if (has_effect) rules.push_back(std::move(*rule));
  }
  return rules;
}

}  // namespace matchlock::net::policy
