#include "net/policy/plugins/sdk_callback.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <map>

#include "core/ascii.h"
#include "core/base64.h"
#include "core/json.h"
#include "core/unix_line_call.h"
#include "net/policy/body_replacement.h"
#include "net/policy/plugin_registry.h"
#include "net/policy/request_target.h"

namespace matchlock::net::policy {
namespace {

using rapidjson::Value;

struct CallbackAnswer {
  bool block = false;
  std::optional<std::vector<HeaderField>> request_headers;
  std::optional<std::vector<QueryParam>> query;
  std::string path;
  std::optional<std::vector<HeaderField>> response_headers;
  std::vector<BodyReplacement> replacements;
  std::optional<std::string> set_body;
};

bool clean(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

std::string text_of(const Value& v) {
  return std::string(v.GetString(), v.GetStringLength());
}

const Value* present(const Value& object, const char* name) {
  if (!object.IsObject()) return nullptr;
  auto it = object.FindMember(name);
  return it == object.MemberEnd() || it->value.IsNull() ? nullptr : &it->value;
}

// {"Name": ["v1", "v2"]} (a bare string is one value). Names and values must be one line.
Result<std::vector<HeaderField>> parse_headers(const Value& map, const char* where) {
  if (!map.IsObject()) return invalid_argument(std::string(where) + " is not an object");
  std::vector<HeaderField> headers;
  for (auto it = map.MemberBegin(); it != map.MemberEnd(); ++it) {
    std::string name = text_of(it->name);
    if (name.empty() || !clean(name) || name.find_first_of(" :") != std::string::npos) {
      return invalid_argument(std::string(where) + " has an invalid header name");
    }
    auto add = [&](const Value& v) -> Status {
      if (!v.IsString() || !clean(text_of(v))) {
        return invalid_argument(std::string(where) + "." + name +
                                " holds a non-string or a line break");
      }
      headers.push_back({canonical_header_name(name), text_of(v)});
      return {};
    };
    if (it->value.IsArray()) {
      for (const Value& v : it->value.GetArray()) MATCHLOCK_TRY(add(v));
    } else {
      MATCHLOCK_TRY(add(it->value));
    }
  }
  return headers;
}

// The long but flat walk over the answer's optional members.
Result<CallbackAnswer> parse_answer(std::string_view line) {
  json::Document doc;
  doc.Parse(line.data(), line.size());
  if (doc.HasParseError() || !doc.IsObject())
    return invalid_argument("the answer is not a JSON object");
  if (const Value* error = present(doc, "error")) {
    if (!error->IsString()) return invalid_argument("error is not a string");
    if (error->GetStringLength() > 0)
      return invalid_argument("the SDK reported: " + text_of(*error));
  }
  CallbackAnswer answer;
  if (const Value* action = present(doc, "action")) {
    if (!action->IsString()) return invalid_argument("action is not a string");
    std::string text = text_of(*action);
    if (equals_ignoring_ascii_case(text, "block")) {
      answer.block = true;
    } else if (!text.empty() && !equals_ignoring_ascii_case(text, "allow") &&
               !equals_ignoring_ascii_case(text, "mutate")) {
      return invalid_argument("unknown action \"" + text + "\"");
    }
  }
  if (const Value* request = present(doc, "request")) {
    if (const Value* headers = present(*request, "headers")) {
      auto parsed = parse_headers(*headers, "request.headers");
      if (!parsed.ok()) return parsed.error();
      answer.request_headers = std::move(*parsed);
    }
    if (const Value* query = present(*request, "query")) {
      if (!query->IsObject()) return invalid_argument("request.query is not an object");
      answer.query.emplace();
      for (auto it = query->MemberBegin(); it != query->MemberEnd(); ++it) {
        const Value& v = it->value.IsArray() && !it->value.Empty() ? it->value[0] : it->value;
        if (!v.IsString()) return invalid_argument("request.query holds a non-string");
        answer.query->push_back({text_of(it->name), text_of(v), {}});
      }
    }
    if (const Value* path = present(*request, "path")) {
      if (!path->IsString()) return invalid_argument("request.path is not a string");
      answer.path = text_of(*path);
      if (!answer.path.empty() && (answer.path.front() != '/' || !clean(answer.path) ||
                                   answer.path.find_first_of(" ?#") != std::string::npos)) {
        return invalid_argument("request.path is not an absolute path");
      }
    }
  }
  if (const Value* response = present(doc, "response")) {
    if (const Value* headers = present(*response, "headers")) {
      auto parsed = parse_headers(*headers, "response.headers");
      if (!parsed.ok()) return parsed.error();
      answer.response_headers = std::move(*parsed);
    }
    if (const Value* list = present(*response, "body_replacements")) {
      if (!list->IsArray()) return invalid_argument("response.body_replacements is not an array");
      for (const Value& item : list->GetArray()) {
        const Value* find = present(item, "find");
        const Value* replace = present(item, "replace");
        if (find == nullptr || !find->IsString() || (replace != nullptr && !replace->IsString())) {
          return invalid_argument("response.body_replacements holds a malformed entry");
        }
        if (find->GetStringLength() == 0) continue;
        answer.replacements.push_back({text_of(*find), replace ? text_of(*replace) : ""});
      }
    }
    if (const Value* body = present(*response, "set_body_base64")) {
      auto decoded = body->IsString() ? base64::decode(text_of(*body)) : std::nullopt;
      if (!decoded) return invalid_argument("response.set_body_base64 is not base64");
      answer.set_body = std::move(*decoded);
    }
  }
  return answer;
}

// Full replacement of `current` by `replacement`, except that a value coming back equal to the
// redacted form of the value it replaces keeps the real one; `keep` names fields that survive.
std::vector<HeaderField> replace_headers(const std::vector<HeaderField>& current,
                                         std::vector<HeaderField> replacement,
                                         const SecretRedactor& redactor, std::string_view keep) {
  std::vector<HeaderField> out;
  for (const HeaderField& field : current) {
    if (!keep.empty() && equals_ignoring_ascii_case(field.name, keep)) out.push_back(field);
  }
  for (HeaderField& field : replacement) {
    if (!keep.empty() && equals_ignoring_ascii_case(field.name, keep)) continue;
    for (const HeaderField& old : current) {
      if (equals_ignoring_ascii_case(old.name, field.name) &&
          redactor.redact(old.value) == field.value) {
        field.value = old.value;
        break;
      }
    }
    out.push_back(std::move(field));
  }
  return out;
}

void apply_to_request(const CallbackAnswer& answer, Request& request,
                      const SecretRedactor& redactor) {
  if (answer.request_headers) {
    request.headers = replace_headers(request.headers, *answer.request_headers, redactor, "host");
  }
  if (!answer.query && answer.path.empty()) return;
  RequestTarget target = RequestTarget::parse(request.target);
  if (answer.query) {
    std::vector<QueryParam> query;
    for (const QueryParam& wanted : *answer.query) {
      const QueryParam* old = target.first(wanted.key);
      bool unchanged = old != nullptr && redactor.redact(old->value) == wanted.value;
      query.push_back(unchanged ? *old : wanted);
    }
    target.query = std::move(query);
  }
  if (!answer.path.empty()) target.path = answer.path;
  request.target = target.to_string();
}

void write_headers(json::Writer& w, const std::vector<HeaderField>& headers,
                   const SecretRedactor& redactor) {
  std::map<std::string, std::vector<std::string>> grouped;  // canonical name -> values
  for (const HeaderField& field : headers) {
    if (equals_ignoring_ascii_case(field.name, "host")) continue;
    grouped[canonical_header_name(field.name)].push_back(redactor.redact(field.value));
  }
  w.StartObject();
  for (const auto& [name, values] : grouped) {
    w.Key(name.c_str(), static_cast<rapidjson::SizeType>(name.size()));
    w.StartArray();
    for (const auto& v : values) w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
    w.EndArray();
  }
  w.EndObject();
}

std::string make_request_line(const InterceptionRule& rule, const Request& request,
                              const Response* response, const SecretRedactor& redactor) {
  rapidjson::StringBuffer buffer;
  json::Writer w(buffer);
  auto string = [&](const char* key, const std::string& value) {
    if (value.empty()) return;
    std::string redacted = redactor.redact(value);
    w.Key(key);
    w.String(redacted.c_str(), static_cast<rapidjson::SizeType>(redacted.size()));
  };
  RequestTarget target = RequestTarget::parse(request.target);
  w.StartObject();
  w.Key("callback_id");
  w.String(rule.callback_id.c_str(), static_cast<rapidjson::SizeType>(rule.callback_id.size()));
  w.Key("phase");
  w.String(response ? "after" : "before");
  string("host", request.host);
  string("method", request.method);
  string("path", target.path);
  if (!target.query.empty()) {
    w.Key("query");
    w.StartObject();
    std::vector<std::string> seen;
    for (const QueryParam& param : target.query) {
      if (std::find(seen.begin(), seen.end(), param.key) != seen.end()) continue;
      seen.push_back(param.key);
      std::string key = redactor.redact(param.key), value = redactor.redact(param.value);
      w.Key(key.c_str(), static_cast<rapidjson::SizeType>(key.size()));
      w.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
    }
    w.EndObject();
  }
  if (!request.headers.empty()) {
    w.Key("request_headers");
    write_headers(w, request.headers, redactor);
  }
  if (response != nullptr) {
    if (response->status != 0) {
      w.Key("status_code");
      w.Int(response->status);
    }
    if (!response->headers.empty()) {
      w.Key("response_headers");
      write_headers(w, response->headers, redactor);
    }
    const HeaderField* type = find_header(response->headers, "content-type");
    if (type != nullptr && is_event_stream(type->value)) {
      w.Key("is_sse");
      w.Bool(true);
    }
  }
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

// The accumulated body changes of the after-phase callbacks of one exchange.
struct BodyPlan {
  std::optional<std::string> set_body;
  std::vector<BodyReplacement> replacements;
};

}  // namespace

struct SdkCallback::Shared {
  uv_loop_t* loop;
  std::string socket_path;
  std::vector<InterceptionRule> rules;
  SecretRedactor redactor;
};

namespace {

using SharedPtr = std::shared_ptr<SdkCallback::Shared>;

// Asks the callbacks of the matching before rules from `next` on, one at a time.
void run_before(SharedPtr shared, std::shared_ptr<Request> request, size_t next,
                std::function<void(TransformResult)> done) {
  while (next < shared->rules.size() && (shared->rules[next].phase != RulePhase::kBefore ||
                                         !shared->rules[next].matches(*request))) {
    ++next;
  }
  if (next >= shared->rules.size()) return done(Continue{});
  const InterceptionRule& rule = shared->rules[next];
  std::string label = "SDK callback " + rule.callback_id;
  uint32_t timeout = rule.timeout_ms ? rule.timeout_ms : SdkCallback::kDefaultTimeoutMs;
  unix_line_call(shared->loop, shared->socket_path,
                 make_request_line(rule, *request, nullptr, shared->redactor), timeout,
                 [shared, request, next, label, done = std::move(done)](Result<std::string> line) {
                   if (!line.ok()) return done(Deny{label + " failed: " + line.error().message});
                   auto answer = parse_answer(*line);
                   if (!answer.ok()) return done(Deny{label + ": " + answer.error().message});
                   if (answer->block) return done(Deny{"blocked by " + label, 403});
                   apply_to_request(*answer, *request, shared->redactor);
                   run_before(shared, request, next + 1, done);
                 });
}

void run_after(SharedPtr shared, std::shared_ptr<const Request> request,
               std::shared_ptr<Response> response, size_t next, std::shared_ptr<BodyPlan> plan,
               std::function<void(ResponseStep)> done) {
  while (next < shared->rules.size() && (shared->rules[next].phase != RulePhase::kAfter ||
                                         !shared->rules[next].matches(*request))) {
    ++next;
  }
  if (next >= shared->rules.size()) {
    ResponseStep step;
    if (plan->set_body || !plan->replacements.empty()) {
      const HeaderField* type = find_header(response->headers, "content-type");
      step.filter = std::make_unique<ReplacementFilter>(
          std::move(plan->replacements), type != nullptr && is_event_stream(type->value),
          std::move(plan->set_body));
    }
    return done(std::move(step));
  }
  const InterceptionRule& rule = shared->rules[next];
  std::string label = "SDK callback " + rule.callback_id;
  auto deny = [](std::string reason, int status = 403) {
    ResponseStep step;
    step.deny = Deny{std::move(reason), status};
    return step;
  };
  uint32_t timeout = rule.timeout_ms ? rule.timeout_ms : SdkCallback::kDefaultTimeoutMs;
  unix_line_call(shared->loop, shared->socket_path,
                 make_request_line(rule, *request, response.get(), shared->redactor), timeout,
                 [=, done = std::move(done)](Result<std::string> line) {
                   if (!line.ok()) return done(deny(label + " failed: " + line.error().message));
                   auto answer = parse_answer(*line);
                   if (!answer.ok()) return done(deny(label + ": " + answer.error().message));
                   if (answer->block) return done(deny("response blocked by " + label));
                   if (answer->response_headers) {
                     response->headers = replace_headers(
                         response->headers, *answer->response_headers, shared->redactor, "");
                   }
                   if (answer->set_body) {
                     plan->set_body = std::move(answer->set_body);
                     plan->replacements.clear();  // they applied to a body that is gone
                   }
                   for (auto& r : answer->replacements) plan->replacements.push_back(std::move(r));
                   run_after(shared, request, response, next + 1, plan, done);
                 });
}

}  // namespace

SdkCallback::SdkCallback(uv_loop_t* loop, std::string socket_path,
                         std::vector<InterceptionRule> rules, SecretRedactor redactor)
    : shared_(std::make_shared<Shared>()) {
  shared_->loop = loop;
  shared_->socket_path = std::move(socket_path);
  for (auto& rule : rules) {
    if (!rule.callback_id.empty()) shared_->rules.push_back(std::move(rule));
  }
  shared_->redactor = std::move(redactor);
}

std::string SdkCallback::request_line(const InterceptionRule& rule, const Request& request,
                                      const Response* response) const {
  return make_request_line(rule, request, response, shared_->redactor);
}

void SdkCallback::before_request(std::shared_ptr<Request> request,
                                 std::function<void(TransformResult)> done) {
  if (request->protocol != Protocol::kHttp) return done(Continue{});
  run_before(shared_, std::move(request), 0, std::move(done));
}

void SdkCallback::after_response(std::shared_ptr<const Request> request,
                                 std::shared_ptr<Response> response,
                                 std::function<void(ResponseStep)> done) {
  if (request->protocol != Protocol::kHttp) return done(ResponseStep{});
  run_after(shared_, std::move(request), std::move(response), 0, std::make_shared<BodyPlan>(),
            std::move(done));
}

Result<std::vector<std::unique_ptr<RemotePlugin>>> make_sdk_callback(const PluginContext& context) {
  const PluginSettings& settings = context.config.settings;
  std::vector<std::unique_ptr<RemotePlugin>> plugins;
  auto rules = parse_interception_rules(settings.interception_rules_json);
  if (!rules.ok()) return rules.error();
  bool any = std::any_of(rules->begin(), rules->end(),
                         [](const InterceptionRule& r) { return !r.callback_id.empty(); });
  if (!any) return plugins;
  if (settings.callback_socket.empty()) {
    return invalid_argument("rules with a callback_id need network.interception.callback_socket");
  }
  if (context.config.loop == nullptr) return invalid_argument("no event loop for SDK callbacks");
  plugins.push_back(std::make_unique<SdkCallback>(context.config.loop, settings.callback_socket,
                                                  std::move(*rules),
                                                  SecretRedactor(settings.secrets)));
  return plugins;
}

}  // namespace matchlock::net::policy
