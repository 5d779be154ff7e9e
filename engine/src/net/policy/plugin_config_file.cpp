#include "net/policy/plugin_config_file.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <cmath>
#include <fstream>
#include <set>

#include "core/json.h"
#include "net/policy/interception_rule.h"
#include "net/policy/plugins/local_model_router.h"

namespace matchlock::net::policy {
namespace {

using rapidjson::Value;

// Reads one plugin object; every error names the file and the member path.
class Entry {
 public:
  Entry(const Value& object, std::string file, std::string where)
      : object_(object), file_(std::move(file)), where_(std::move(where)) {}

  Error fail(std::string_view member, const std::string& why) const {
    std::string at = member.empty() ? where_ : where_ + "." + std::string(member);
    return invalid_argument("plugin config " + file_ + ": " + at + ": " + why);
  }
  // Every member must be one the type knows.
  Status only(std::initializer_list<const char*> known) const {
    for (auto it = object_.MemberBegin(); it != object_.MemberEnd(); ++it) {
      std::string name(it->name.GetString(), it->name.GetStringLength());
      if (name == "secrets" || name == "secret") {
        return fail(name,
                    "secrets are not allowed in a plugin configuration file (files get "
                    "shared); use --secret");
      }
      bool ok = name == "type";
      for (const char* k : known) ok = ok || name == k;
      if (!ok) return fail(name, "unknown member");
    }
    return {};
  }
  const Value* get(const char* name) const {
    auto it = object_.FindMember(name);
    return it == object_.MemberEnd() ? nullptr : &it->value;
  }
  Result<std::string> string(const char* name, bool required) const {
    const Value* v = get(name);
    if (v == nullptr) {
      if (required) return fail(name, "required");
      return std::string();
    }
    if (!v->IsString() || v->GetStringLength() == 0)
      return fail(name, "must be a non-empty string");
    return std::string(v->GetString(), v->GetStringLength());
  }
  Result<std::vector<std::string>> strings(const char* name, bool required) const {
    const Value* v = get(name);
    std::vector<std::string> out;
    if (v == nullptr) {
      if (required) return fail(name, "required");
      return out;
    }
    if (!v->IsArray()) return fail(name, "must be an array of strings");
    for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
      if (!(*v)[i].IsString()) {
        return fail(std::string(name) + "[" + std::to_string(i) + "]", "must be a string");
      }
      out.emplace_back((*v)[i].GetString(), (*v)[i].GetStringLength());
    }
    return out;
  }

 private:
  const Value& object_;
  std::string file_;
  std::string where_;
};

// A scalar the file sets: base must leave it unset or agree.
template <typename T>
Status merge_scalar(const Entry& entry, const char* member, T& into, const T& from_file,
                    bool base_set) {
  if (base_set && !(into == from_file)) {
    return entry.fail(member, "conflicts with the value given by flag or rpc");
  }
  into = from_file;
  return {};
}

Status read_router(const Entry& e, PluginSettings& settings) {
  MATCHLOCK_TRY(e.only({"backend", "routes"}));
  auto backend = e.string("backend", false);
  if (!backend.ok()) return backend.error();
  if (!backend->empty()) {
    if (auto parsed = parse_model_backend(*backend); !parsed.ok()) {
      return e.fail("backend", parsed.error().message);
    }
    MATCHLOCK_TRY(merge_scalar(e, "backend", settings.local_model_backend, *backend,
                               !settings.local_model_backend.empty()));
  }
  auto routes = e.strings("routes", true);
  if (!routes.ok()) return routes.error();
  for (size_t i = 0; i < routes->size(); ++i) {
    auto route = parse_model_route((*routes)[i]);
    if (!route.ok()) return e.fail("routes[" + std::to_string(i) + "]", route.error().message);
    settings.model_routes.push_back(std::move(*route));
  }
  return {};
}

Status read_usage_logger(const Entry& e, PluginSettings& settings) {
  MATCHLOCK_TRY(e.only({"path"}));
  auto path = e.string("path", true);
  if (!path.ok()) return path.error();
  return merge_scalar(e, "path", settings.usage_log_path, *path, !settings.usage_log_path.empty());
}

Status read_budget_gate(const Entry& e, PluginSettings& settings) {
  MATCHLOCK_TRY(e.only({"limit_usd"}));
  const Value* limit = e.get("limit_usd");
  if (limit == nullptr) return e.fail("limit_usd", "required");
  if (!limit->IsNumber() || !std::isfinite(limit->GetDouble()) || limit->GetDouble() < 0) {
    return e.fail("limit_usd", "must be a non-negative number of US dollars");
  }
  std::optional<double> value = limit->GetDouble();
  return merge_scalar(e, "limit_usd", settings.budget_limit_usd, value,
                      settings.budget_limit_usd.has_value());
}

Status read_rules(const Entry& e, PluginSettings& settings) {
  MATCHLOCK_TRY(e.only({"rules"}));
  const Value* rules = e.get("rules");
  if (rules == nullptr || !rules->IsArray()) return e.fail("rules", "must be an array");
  // Append to the rules already given (as JSON text), then validate the whole list once.
  json::Document merged;
  merged.SetArray();
  if (!settings.interception_rules_json.empty()) {
    merged.Parse(settings.interception_rules_json.c_str());
    if (merged.HasParseError() || !merged.IsArray()) {
      return e.fail("rules", "the rules given by rpc are not a JSON array");
    }
  }
  for (const Value& rule : rules->GetArray()) {
    merged.PushBack(Value(rule, merged.GetAllocator()), merged.GetAllocator());
  }
  std::string text = json::to_string(merged);
  if (auto parsed = parse_interception_rules(text); !parsed.ok()) {
    return e.fail("rules", parsed.error().message + " (counted over the merged list)");
  }
  settings.interception_rules_json = std::move(text);
  return {};
}

Status read_external(const Entry& e, PluginSettings& settings) {
  MATCHLOCK_TRY(e.only({"name", "command", "phases", "timeout_ms"}));
  ExternalPluginSpec spec;
  auto name = e.string("name", true);
  if (!name.ok()) return name.error();
  spec.name = *name;
  for (const auto& other : settings.external_plugins) {
    if (other.name == spec.name) return e.fail("name", "\"" + spec.name + "\" is given twice");
  }
  auto command = e.strings("command", true);
  if (!command.ok()) return command.error();
  if (command->empty() || command->front().empty()) return e.fail("command", "must not be empty");
  spec.argv = std::move(*command);
  auto phases = e.strings("phases", true);
  if (!phases.ok()) return phases.error();
  if (phases->empty()) return e.fail("phases", "must name at least one phase");
  for (const auto& phase : *phases) {
    if (phase != "gate" && phase != "request" && phase != "response") {
      return e.fail("phases", "unknown phase \"" + phase + "\" (gate, request or response)");
    }
  }
  spec.phases = std::move(*phases);
  if (const Value* timeout = e.get("timeout_ms")) {
    if (!timeout->IsUint() || timeout->GetUint() == 0) {
      return e.fail("timeout_ms", "must be a positive integer");
    }
    spec.timeout_ms = timeout->GetUint();
  }
  settings.external_plugins.push_back(std::move(spec));
  return {};
}

}  // namespace

Result<PluginSettings> parse_plugin_config(std::string_view text, const std::string& path,
                                           PluginSettings base) {
  auto fail = [&](const std::string& why) {
    return invalid_argument("plugin config " + path + ": " + why);
  };
  json::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError()) {
    return fail(std::string("not valid JSON at offset ") + std::to_string(doc.GetErrorOffset()) +
                ": " + rapidjson::GetParseError_En(doc.GetParseError()));
  }
  if (!doc.IsObject()) return fail("must be a JSON object {\"plugins\": [...]}");
  for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
    std::string name(it->name.GetString(), it->name.GetStringLength());
    if (name == "secrets") {
      return fail(
          "secrets are not allowed in a plugin configuration file (files get shared); "
          "use --secret");
    }
    if (name != "plugins") return fail(name + ": unknown member");
  }
  auto plugins = doc.FindMember("plugins");
  if (plugins == doc.MemberEnd() || !plugins->value.IsArray())
    return fail("plugins: must be an array");
  for (rapidjson::SizeType i = 0; i < plugins->value.Size(); ++i) {
    const Value& object = plugins->value[i];
    std::string where = "plugins[" + std::to_string(i) + "]";
    if (!object.IsObject()) return fail(where + ": must be an object");
    Entry entry(object, path, where);
    auto type = entry.string("type", true);
    if (!type.ok()) return type.error();
    Status read;
    if (*type == "local_model_router") {
      read = read_router(entry, base);
    } else if (*type == "usage_logger") {
      read = read_usage_logger(entry, base);
    } else if (*type == "budget_gate") {
      read = read_budget_gate(entry, base);
    } else if (*type == "interception_rules") {
      read = read_rules(entry, base);
    } else if (*type == "external") {
      read = read_external(entry, base);
    } else if (*type == "secret" || *type == "secret_injector") {
      return entry.fail("type",
                        "secrets are not allowed in a plugin configuration file (files "
                        "get shared); use --secret");
    } else {
      return entry.fail("type", "unknown plugin type \"" + *type +
                                    "\" (local_model_router, usage_logger, budget_gate, "
                                    "interception_rules, external)");
    }
    if (!read.ok()) return read.error();
  }
  if (base.budget_limit_usd && base.usage_log_path.empty()) {
    return fail("budget_gate needs a usage log: add a usage_logger plugin or --usage-log");
  }
  return base;
}

Result<PluginSettings> load_plugin_config(const std::string& path, PluginSettings base) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return invalid_argument("plugin config " + path + ": cannot be read");
  std::string text;
  char buffer[16 * 1024];
  while (file.read(buffer, sizeof buffer) || file.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(file.gcount()));
    if (text.size() > kMaxPluginConfigBytes) {
      return invalid_argument("plugin config " + path + ": larger than " +
                              std::to_string(kMaxPluginConfigBytes) + " bytes");
    }
  }
  return parse_plugin_config(text, path, std::move(base));
}

}  // namespace matchlock::net::policy
