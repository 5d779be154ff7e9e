// Per-instruction semantics of docker/BuildKit (see build_steps.h for the history style).
// Expansion happens exactly where docker expands: ARG defaults, ENV, LABEL, WORKDIR, USER,
// EXPOSE, VOLUME, STOPSIGNAL and COPY/ADD sources, dest, --chown and --chmod. RUN, CMD,
// ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD and MAINTAINER keep their text as written.
#include "dockerbuild/build_steps.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <set>

#include "core/ascii.h"
#include "core/json.h"
#include "dockerbuild/word_expansion.h"

namespace matchlock::dockerbuild {
namespace {

constexpr std::string_view kDefaultPath =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
// Runs a `RUN <<EOF` body that starts with "#!" as its own interpreter would (BuildKit mounts it
// as a file): written to a temporary file, executed, removed. The body arrives as $1, so no
// quoting of it is needed.
constexpr std::string_view kShebangRunner =
    "f=$(mktemp) && printf '%s' \"$1\" >\"$f\" && chmod 700 \"$f\" && \"$f\"; rc=$?; rm -f \"$f\"; "
    "exit $rc";

using Writer = json::Writer;

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string join(const std::vector<std::string>& words, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i) out += sep;
    out += words[i];
  }
  return out;
}

// Go's %q of a string: how docker prints lists in history ("CMD [\"a\" \"b\"]").
std::string go_quote(std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string go_quote_list(const std::vector<std::string>& list) {
  std::string out = "[";
  for (size_t i = 0; i < list.size(); ++i) out += (i ? " " : "") + go_quote(list[i]);
  return out + "]";
}

// POSIX path cleaning of an absolute path: no ".", "..", empty or trailing components.
std::string clean_absolute(std::string_view path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= path.size()) {
    size_t slash = path.find('/', i);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view part = path.substr(i, slash - i);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.emplace_back(part);
    }
    i = slash + 1;
  }
  return parts.empty() ? "/" : "/" + join(parts, "/");
}

std::string resolve_against(const std::string& workdir, std::string_view path) {
  if (!path.empty() && path[0] == '/') return clean_absolute(path);
  return clean_absolute((workdir.empty() ? std::string("/") : workdir) + "/" + std::string(path));
}

std::string env_key(std::string_view entry) {
  return std::string(entry.substr(0, entry.find('=')));
}

void upsert(std::vector<std::string>& env, const std::string& key, const std::string& value) {
  for (std::string& e : env) {
    if (env_key(e) == key) {
      e = key + "=" + value;
      return;
    }
  }
  env.push_back(key + "=" + value);
}

// The flags an instruction accepts, each at most once. `unsupported` lists flags docker knows
// that matchlock refuses with a clearer message than "unknown flag".
Result<std::map<std::string, std::string>> check_flags(const Instruction& ins,
                                                       const std::set<std::string>& allowed,
                                                       const std::set<std::string>& unsupported) {
  std::map<std::string, std::string> flags;
  for (const auto& [name, value] : ins.flags) {
    if (unsupported.count(name)) {
      return Error(ErrorCode::kUnsupported, ins.keyword + " --" + name + " is not supported");
    }
    if (!allowed.count(name)) return invalid_argument("unknown flag: " + name);
    if (!flags.emplace(name, value).second) {
      return invalid_argument("duplicate flag specified: " + name);
    }
  }
  return flags;
}

void write_strings(Writer& w, const char* key, const std::vector<std::string>& list) {
  w.Key(key);
  w.StartArray();
  for (const auto& s : list) w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
  w.EndArray();
}

void write_string(Writer& w, const char* key, const std::string& s) {
  w.Key(key);
  w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
}

// A JSON array of strings, or nullopt when `text` is anything else.
std::optional<std::vector<std::string>> json_string_array(const std::string& text) {
  json::Document doc;
  doc.Parse(text.c_str(), text.size());
  if (doc.HasParseError() || !doc.IsArray()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& v : doc.GetArray()) {
    if (!v.IsString()) return std::nullopt;
    out.emplace_back(v.GetString(), v.GetStringLength());
  }
  return out;
}

// Go's time.ParseDuration, which docker uses for HEALTHCHECK: "30s", "1m30s", "1.5h", "500ms",
// "-2s", "0"; units ns, us (µs, μs), ms, s, m, h. Returns nanoseconds.
Result<int64_t> parse_go_duration(std::string_view text) {
  auto bad = [&text]() { return invalid_argument("invalid duration '" + std::string(text) + "'"); };
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return int64_t{0};
  if (s.empty()) return bad();
  static const std::pair<std::string_view, double> kUnits[] = {
      {"ns", 1.0}, {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3},
      {"ms", 1e6}, {"s", 1e9},  {"m", 60e9},        {"h", 3600e9}};
  long double total = 0;
  while (!s.empty()) {
    size_t i = 0;
    bool digits = false;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, digits = true;
    if (i < s.size() && s[i] == '.') {
      ++i;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, digits = true;
    }
    if (!digits || i > 40) return bad();
    long double number = std::stold(std::string(s.substr(0, i)));
    s.remove_prefix(i);
    size_t u = 0;
    while (u < s.size() && !std::isdigit(static_cast<unsigned char>(s[u])) && s[u] != '.') ++u;
    std::string_view unit = s.substr(0, u);
    auto it = std::find_if(std::begin(kUnits), std::end(kUnits),
                           [&](const auto& e) { return e.first == unit; });
    if (it == std::end(kUnits)) return bad();
    total += number * it->second;
    s.remove_prefix(u);
  }
  if (total > 9.2e18L) return bad();  // Go's limit: about 292 years
  auto ns = static_cast<int64_t>(std::llround(static_cast<double>(total)));
  return negative ? -ns : ns;
}

// "80", "80/udp", "8000-8010/tcp" -> each port as "N/proto".
Status add_exposed_ports(const std::string& spec, std::set<std::string>& ports) {
  auto bad = [&spec]() { return invalid_argument("EXPOSE: invalid port '" + spec + "'"); };
  size_t slash = spec.find('/');
  std::string range = spec.substr(0, slash);
  std::string proto = slash == std::string::npos ? "tcp" : spec.substr(slash + 1);
  for (char& c : proto) c = ascii_lower(c);
  if (proto != "tcp" && proto != "udp" && proto != "sctp") {
    return invalid_argument("EXPOSE: invalid protocol '" + proto + "' in '" + spec + "'");
  }
  auto port = [](std::string_view s) -> std::optional<unsigned> {
    if (s.empty() || s.size() > 5) return std::nullopt;
    unsigned v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v == 0 || v > 65535) return std::nullopt;
    return v;
  };
  size_t dash = range.find('-');
  auto first = port(range.substr(0, dash));
  auto last = dash == std::string::npos ? first : port(range.substr(dash + 1));
  if (!first || !last || *last < *first) return bad();
  for (unsigned p = *first; p <= *last; ++p) ports.insert(std::to_string(p) + "/" + proto);
  return {};
}

bool is_ascii_digit(char c) {
  return c >= '0' && c <= '9';
}

// STOPSIGNAL: a number or a Linux signal name, with or without "SIG".
bool valid_signal(const std::string& signal) {
  static const std::set<std::string> kNames = {
      "ABRT",   "ALRM",   "BUS",  "CHLD", "CLD",    "CONT",  "FPE",  "HUP",  "ILL",
      "INT",    "IO",     "IOT",  "KILL", "PIPE",   "POLL",  "PROF", "PWR",  "QUIT",
      "SEGV",   "STKFLT", "STOP", "SYS",  "TERM",   "TRAP",  "TSTP", "TTIN", "TTOU",
      "UNUSED", "URG",    "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ"};
  if (!signal.empty() && std::all_of(signal.begin(), signal.end(), is_ascii_digit)) {
    return signal.size() <= 2 && std::stoi(signal) >= 1 && std::stoi(signal) <= 64;
  }
  std::string name = upper(signal);
  if (name.rfind("SIG", 0) == 0) name = name.substr(3);
  if (kNames.count(name)) return true;
  for (const char* rt : {"RTMIN", "RTMAX"}) {
    if (name == rt) return true;
    if (name.rfind(rt, 0) == 0 && name.size() > 6 && (name[5] == '+' || name[5] == '-')) {
      std::string n = name.substr(6);
      if (n.size() <= 2 && std::all_of(n.begin(), n.end(), is_ascii_digit)) return true;
    }
  }
  return false;
}

// "<<EOF", "<<-EOF", "<<\"EOF\"", "<<'EOF'" -> "EOF"; "" when `word` is no heredoc marker.
std::string heredoc_name(std::string_view word) {
  if (word.substr(0, 2) != "<<") return "";
  word.remove_prefix(2);
  if (!word.empty() && word[0] == '-') word.remove_prefix(1);
  if (word.size() >= 2 && (word[0] == '"' || word[0] == '\'') && word.back() == word[0]) {
    word = word.substr(1, word.size() - 2);
  }
  return std::string(word);
}

std::string strip_leading_tabs(const std::string& body) {
  std::string out;
  bool line_start = true;
  for (char c : body) {
    if (line_start && c == '\t') continue;
    line_start = c == '\n';
    out += c;
  }
  return out;
}

// A COPY heredoc body, expanded as a shell here-document would be: $NAME and ${...} are replaced,
// `\$` and `\\` unescaped, quotes and everything else kept.
Result<std::string> expand_heredoc_body(const std::string& body, const VariableLookup& lookup,
                                        char escape) {
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c == '\\' && i + 1 < body.size() && (body[i + 1] == '$' || body[i + 1] == '\\')) {
      out += body[++i];
    } else if (c == '$' && i + 1 < body.size() && body[i + 1] == '{') {
      size_t depth = 0, j = i + 1;
      for (; j < body.size(); ++j) {
        if (body[j] == '{') ++depth;
        if (body[j] == '}' && --depth == 0) break;
      }
      if (j >= body.size()) return invalid_argument("heredoc: missing '}'");
      auto v = expand_word(std::string_view(body).substr(i, j - i + 1), lookup, escape);
      if (!v) return v.error();
      out += *v;
      i = j;
    } else if (c == '$' && i + 1 < body.size() &&
               (std::isalpha(static_cast<unsigned char>(body[i + 1])) || body[i + 1] == '_')) {
      size_t j = i + 1;
      while (j < body.size() &&
             (std::isalnum(static_cast<unsigned char>(body[j])) || body[j] == '_')) {
        ++j;
      }
      out += lookup(std::string_view(body).substr(i + 1, j - i - 1)).value_or("");
      i = j - 1;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

StageEvaluator::StageEvaluator(const BuildPlan& plan, size_t stage_index, ImageSettings base,
                               const BuildArgs& build_args)
    : plan_(plan),
      stage_(plan.stages.at(stage_index)),
      build_args_(build_args),
      settings_(std::move(base)) {}

Result<std::vector<Step>> StageEvaluator::evaluate() {
  // BuildKit gives every image a PATH (the scratch base and images without one).
  bool has_path = std::any_of(settings_.env.begin(), settings_.env.end(),
                              [](const std::string& e) { return env_key(e) == "PATH"; });
  if (!has_path) settings_.env.emplace_back(kDefaultPath);
  std::vector<Step> steps;
  for (const Instruction* ins : stage_.body) {
    Step step;
    step.instruction = ins;
    Status st = apply(*ins, step);
    if (!st) {
      return Error(st.error().code,
                   "line " + std::to_string(ins->line) + ": " + st.error().message);
    }
    if (step.cache_text.empty()) {  // metadata: the history text says all it changes
      rapidjson::StringBuffer sb;
      Writer w(sb);
      w.StartObject();
      write_string(w, "kind", ins->keyword);
      write_string(w, "text", step.created_by);
      w.EndObject();
      step.cache_text.assign(sb.GetString(), sb.GetSize());
    }
    step.after = settings_;
    steps.push_back(std::move(step));
  }
  return steps;
}

Status StageEvaluator::apply(const Instruction& ins, Step& step) {
  const std::string& k = ins.keyword;
  if (k == "RUN") return apply_run(ins, step);
  if (k == "COPY" || k == "ADD") return apply_copy(ins, step);
  // Only FROM, RUN, COPY, ADD and HEALTHCHECK take flags.
  if (k != "HEALTHCHECK" && !ins.flags.empty()) {
    return invalid_argument("unknown flag: " + ins.flags.front().first);
  }
  if (k == "ARG") return apply_arg(ins, step);
  if (k == "ENV") return apply_env(ins, step);
  if (k == "LABEL" || k == "MAINTAINER") return apply_label(ins, step);
  if (k == "WORKDIR") return apply_workdir(ins, step);
  if (k == "USER") return apply_user(ins, step);
  if (k == "EXPOSE") return apply_expose(ins, step);
  if (k == "VOLUME") return apply_volume(ins, step);
  if (k == "STOPSIGNAL") return apply_stopsignal(ins, step);
  if (k == "HEALTHCHECK") return apply_healthcheck(ins, step);
  if (k == "SHELL") return apply_shell(ins, step);
  if (k == "CMD" || k == "ENTRYPOINT") return apply_cmd_or_entrypoint(ins, step);
  if (k == "ONBUILD") return apply_onbuild(ins, step);
  if (k == "FROM") return invalid_argument("FROM inside a stage body");  // the plan splits stages
  return invalid_argument("unknown instruction: " + k);
}

// Variables in scope: the image's ENV, then this stage's ARGs (ENV wins over an ARG of the same
// name, as docker documents).
std::optional<std::string> StageEvaluator::lookup(std::string_view name) const {
  for (const std::string& e : settings_.env) {
    if (e.size() > name.size() && e[name.size()] == '=' && e.compare(0, name.size(), name) == 0) {
      return e.substr(name.size() + 1);
    }
  }
  for (const ArgValue& a : args_) {
    if (a.name == name) return a.value;
  }
  return std::nullopt;
}

Result<std::string> StageEvaluator::expand(std::string_view word) const {
  return expand_word(
      word, [this](std::string_view n) { return lookup(n); }, plan_.escape);
}

std::vector<std::string> StageEvaluator::shell() const {
  if (settings_.shell.empty()) return {"/bin/sh", "-c"};
  return settings_.shell;
}

std::vector<std::string> StageEvaluator::run_env() const {
  std::vector<std::string> env = settings_.env;
  std::set<std::string> keys;
  for (const std::string& e : env) keys.insert(env_key(e));
  for (const ArgValue& a : args_) {
    if (a.value && keys.insert(a.name).second) env.push_back(a.name + "=" + *a.value);
  }
  return env;
}

Status StageEvaluator::apply_arg(const Instruction& ins, Step& step) {
  auto decls = parse_arg_definitions(ins.rest, plan_.escape);
  if (!decls) return decls.error();
  std::vector<std::string> history;
  for (const ArgDefinition& decl : *decls) {
    std::optional<std::string> value;
    auto given = build_args_.values.find(decl.name);
    auto global = plan_.global_args.find(decl.name);
    if (given != build_args_.values.end() && given->second) {
      value = given->second;
    } else if (decl.default_value) {
      auto v = expand(*decl.default_value);  // sees the ARGs before it, on this line too
      if (!v) return v.error();
      value = *v;
    } else if (global != plan_.global_args.end()) {
      value = global->second;  // `ARG NAME` re-declares a global ARG in this stage
    }
    auto it = std::find_if(args_.begin(), args_.end(),
                           [&](const ArgValue& a) { return a.name == decl.name; });
    if (it != args_.end()) {
      it->value = value;
    } else {
      args_.push_back({decl.name, value});
    }
    history.push_back(value ? decl.name + "=" + *value : decl.name);
  }
  step.created_by = "ARG " + join(history, " ");
  return {};
}

Status StageEvaluator::apply_env(const Instruction& ins, Step& step) {
  auto pairs = parse_key_values(ins.rest, plan_.escape, /*allow_legacy_space_form=*/true);
  if (!pairs) return pairs.error();
  if (pairs->empty()) return invalid_argument("ENV requires at least one argument");
  // Every value sees the variables as they were before this instruction (docker's rule).
  std::vector<std::pair<std::string, std::string>> expanded;
  for (const auto& [key, value] : *pairs) {
    auto k = expand(key);
    if (!k) return k.error();
    if (k->empty()) return invalid_argument("ENV names can not be blank");
    auto v = expand(value);
    if (!v) return v.error();
    expanded.emplace_back(*k, *v);
  }
  std::vector<std::string> history;
  for (const auto& [key, value] : expanded) {
    upsert(settings_.env, key, value);
    history.push_back(key + "=" + value);
  }
  step.created_by = "ENV " + join(history, " ");
  return {};
}

Status StageEvaluator::apply_label(const Instruction& ins, Step& step) {
  if (ins.keyword == "MAINTAINER") {
    std::string maintainer = trim(ins.rest);
    if (maintainer.empty()) return invalid_argument("MAINTAINER requires exactly one argument");
    settings_.labels["maintainer"] = maintainer;
    step.created_by = "MAINTAINER " + maintainer;
    return {};
  }
  auto pairs = parse_key_values(ins.rest, plan_.escape, /*allow_legacy_space_form=*/true);
  if (!pairs) return pairs.error();
  if (pairs->empty()) return invalid_argument("LABEL requires at least one argument");
  std::vector<std::string> history;
  for (const auto& [key, value] : *pairs) {
    auto k = expand(key);
    if (!k) return k.error();
    if (k->empty()) return invalid_argument("LABEL names can not be blank");
    auto v = expand(value);
    if (!v) return v.error();
    settings_.labels[*k] = *v;
    history.push_back(*k + "=" + *v);
  }
  step.created_by = "LABEL " + join(history, " ");
  return {};
}

Status StageEvaluator::apply_workdir(const Instruction& ins, Step& step) {
  std::string text = trim(ins.rest);
  if (text.empty()) return invalid_argument("WORKDIR requires exactly one argument");
  auto dir = expand(text);
  if (!dir) return dir.error();
  settings_.workdir = resolve_against(settings_.workdir, *dir);
  step.created_by = "WORKDIR " + settings_.workdir;
  return {};
}

Status StageEvaluator::apply_user(const Instruction& ins, Step& step) {
  std::string text = trim(ins.rest);
  if (text.empty()) return invalid_argument("USER requires exactly one argument");
  auto user = expand(text);
  if (!user) return user.error();
  if (user->empty()) return invalid_argument("USER requires exactly one argument");
  settings_.user = *user;
  step.created_by = "USER " + settings_.user;
  return {};
}

Status StageEvaluator::apply_expose(const Instruction& ins, Step& step) {
  auto specs = expand_words(
      ins.rest, [this](std::string_view n) { return lookup(n); }, plan_.escape);
  if (!specs) return specs.error();
  if (specs->empty()) return invalid_argument("EXPOSE requires at least one argument");
  std::vector<std::string> history;
  for (const std::string& spec : *specs) {
    MATCHLOCK_TRY(add_exposed_ports(spec, settings_.exposed_ports));
    history.push_back(spec.find('/') == std::string::npos ? spec + "/tcp" : spec);
  }
  step.created_by = "EXPOSE " + join(history, " ");
  return {};
}

Status StageEvaluator::apply_volume(const Instruction& ins, Step& step) {
  std::vector<std::string> volumes;
  if (ins.json_form) {
    for (const std::string& arg : ins.args) {
      auto v = expand(arg);
      if (!v) return v.error();
      volumes.push_back(*v);
    }
  } else {
    auto words = expand_words(
        ins.rest, [this](std::string_view n) { return lookup(n); }, plan_.escape);
    if (!words) return words.error();
    volumes = std::move(*words);
  }
  if (volumes.empty()) return invalid_argument("VOLUME requires at least one argument");
  for (const std::string& v : volumes) {
    if (trim(v).empty()) return invalid_argument("VOLUME specified can not be an empty string");
    settings_.volumes.insert(v);
  }
  step.created_by = "VOLUME [" + join(volumes, " ") + "]";
  return {};
}

Status StageEvaluator::apply_stopsignal(const Instruction& ins, Step& step) {
  std::string text = trim(ins.rest);
  if (text.empty()) return invalid_argument("STOPSIGNAL requires exactly one argument");
  auto signal = expand(text);
  if (!signal) return signal.error();
  if (!valid_signal(*signal)) return invalid_argument("invalid signal: " + *signal);
  settings_.stop_signal = *signal;
  step.created_by = "STOPSIGNAL " + *signal;
  return {};
}

Status StageEvaluator::apply_healthcheck(const Instruction& ins, Step& step) {
  auto flags =
      check_flags(ins, {"interval", "timeout", "start-period", "start-interval", "retries"}, {});
  if (!flags) return flags.error();
  std::string text = trim(ins.rest);
  size_t space = text.find_first_of(" \t");
  std::string type = upper(text.substr(0, space));
  std::string command = space == std::string::npos ? "" : trim(text.substr(space));
  Healthcheck check;
  if (type == "NONE") {
    if (!command.empty() || !flags->empty()) {
      return invalid_argument("HEALTHCHECK NONE takes no arguments");
    }
    check.test = {"NONE"};
  } else if (type == "CMD") {
    if (command.empty()) return invalid_argument("Missing command after HEALTHCHECK CMD");
    if (auto exec = json_string_array(command)) {
      check.test = {"CMD"};
      check.test.insert(check.test.end(), exec->begin(), exec->end());
    } else {
      check.test = {"CMD-SHELL", command};
    }
  } else {
    return invalid_argument("Unknown type \"" + type + "\" in HEALTHCHECK (try CMD)");
  }
  std::string flag_text;
  for (const auto& [name, value] : ins.flags) {  // as written, for the history
    flag_text += "--" + name + "=" + value + " ";
    if (name == "retries") {
      char* end = nullptr;
      long retries = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || retries > 1000000 || retries < -1000000) {
        return invalid_argument("HEALTHCHECK --retries: invalid number '" + value + "'");
      }
      if (retries < 0) {
        return invalid_argument("--retries cannot be negative (" + value + ")");
      }
      check.retries = static_cast<int>(retries);
      continue;
    }
    auto d = parse_go_duration(value);
    if (!d) return invalid_argument("HEALTHCHECK --" + name + ": " + d.error().message);
    if (*d < 0) return invalid_argument("HEALTHCHECK --" + name + " cannot be negative");
    if (*d != 0 && *d < 1'000'000) {
      return invalid_argument("HEALTHCHECK --" + name + " cannot be less than 1ms");
    }
    if (name == "interval") check.interval_ns = *d;
    if (name == "timeout") check.timeout_ns = *d;
    if (name == "start-period") check.start_period_ns = *d;
    if (name == "start-interval") check.start_interval_ns = *d;
  }
  settings_.healthcheck = check;
  step.created_by = "HEALTHCHECK " + flag_text + go_quote_list(check.test);
  return {};
}

Status StageEvaluator::apply_shell(const Instruction& ins, Step& step) {
  if (!ins.json_form) return invalid_argument("SHELL requires the arguments to be in JSON form");
  if (ins.args.empty()) return invalid_argument("SHELL requires at least one argument");
  settings_.shell = ins.args;
  step.created_by = "SHELL " + go_quote_list(ins.args);
  return {};
}

Status StageEvaluator::apply_cmd_or_entrypoint(const Instruction& ins, Step& step) {
  std::vector<std::string> argv;
  if (ins.json_form) {
    argv = ins.args;
  } else {
    std::string text = trim(ins.rest);
    if (text.empty()) return invalid_argument(ins.keyword + " requires at least one argument");
    argv = shell();
    argv.push_back(text);
  }
  if (ins.keyword == "CMD") {
    settings_.cmd = argv;
    cmd_set_ = true;
  } else {
    settings_.entrypoint = argv;
    // Docker: an ENTRYPOINT drops the CMD the base image set; a CMD set earlier in this stage
    // stays.
    if (!cmd_set_) settings_.cmd.reset();
  }
  step.created_by = ins.keyword + " " + go_quote_list(argv);
  return {};
}

Status StageEvaluator::apply_onbuild(const Instruction& ins, Step& step) {
  std::string trigger = trim(ins.rest);
  if (trigger.empty()) return invalid_argument("ONBUILD requires at least one argument");
  std::string keyword = upper(trigger.substr(0, trigger.find_first_of(" \t")));
  if (keyword == "ONBUILD") {
    return invalid_argument("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  }
  if (keyword == "FROM" || keyword == "MAINTAINER") {
    return invalid_argument(keyword + " isn't allowed as an ONBUILD trigger");
  }
  settings_.onbuild.push_back(trigger);
  step.created_by = "ONBUILD " + trigger;
  return {};
}

Status StageEvaluator::apply_run(const Instruction& ins, Step& step) {
  auto flags = check_flags(ins, {"network"}, {"mount", "security"});
  if (!flags) return flags.error();
  RunStep run;
  run.network = "default";
  if (auto it = flags->find("network"); it != flags->end()) {
    if (it->second != "default" && it->second != "none" && it->second != "host") {
      return invalid_argument("RUN --network: expected default, none or host, got '" + it->second +
                              "'");
    }
    run.network = it->second;
  }
  std::string text = trim(ins.rest);
  if (ins.json_form) {
    run.argv = ins.args;
  } else if (!ins.heredocs.empty()) {
    const Heredoc& first = ins.heredocs.front();
    std::string body = first.strip_tabs ? strip_leading_tabs(first.body) : first.body;
    if (ins.heredocs.size() == 1 && heredoc_name(text) == first.name) {
      // The heredoc is the whole command: its body is the script.
      if (body.rfind("#!", 0) == 0) {
        run.argv = {"/bin/sh", "-c", std::string(kShebangRunner), "matchlock-heredoc", body};
      } else {
        run.argv = shell();
        run.argv.push_back(body);
      }
    } else {
      // The shell reads the here-documents itself: the command line, then each body and its
      // delimiter.
      std::string script = text;
      for (const Heredoc& h : ins.heredocs) script += "\n" + h.body + h.name;
      run.argv = shell();
      run.argv.push_back(script);
    }
  } else {
    if (text.empty()) return invalid_argument("RUN requires at least one argument");
    run.argv = shell();
    run.argv.push_back(text);
  }
  if (run.argv.empty()) return invalid_argument("RUN requires at least one argument");
  run.user = settings_.user;
  run.workdir = settings_.workdir.empty() ? "/" : settings_.workdir;
  run.env = run_env();
  std::vector<std::string> keyed_env = run.env;  // the cache key leaves proxy settings out
  std::set<std::string> keys;
  for (const std::string& e : run.env) keys.insert(env_key(e));
  for (const auto& [name, value] : build_args_.values) {
    if (is_predefined_proxy_arg(name) && value && !keys.count(name)) {
      run.env.push_back(name + "=" + *value);
    }
  }

  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  write_string(w, "kind", "RUN");
  write_strings(w, "argv", run.argv);
  write_strings(w, "env", keyed_env);
  write_string(w, "user", run.user);
  write_string(w, "workdir", run.workdir);
  write_string(w, "network", run.network);
  w.EndObject();
  step.cache_text.assign(sb.GetString(), sb.GetSize());

  // BuildKit's history: "|N K=V ..." lists the ARGs in scope (their effective value) first.
  std::vector<std::string> arg_text;
  for (const ArgValue& a : args_) {
    arg_text.push_back(a.name + "=" + lookup(a.name).value_or(""));
  }
  std::string prefix =
      arg_text.empty() ? ""
                       : "|" + std::to_string(arg_text.size()) + " " + join(arg_text, " ") + " ";
  step.created_by = "RUN " + prefix + join(run.argv, " ") + " # buildkit";
  step.kind = Step::Kind::kRun;
  step.run = std::move(run);
  return {};
}

// Long for its checks: flags, the word list, heredoc sources, dest resolution, then the cache
// and history texts — each a few lines, all about one COPY.
Status StageEvaluator::apply_copy(const Instruction& ins, Step& step) {
  const bool add = ins.keyword == "ADD";
  auto flags = add ? check_flags(ins, {"chown", "chmod", "link"}, {"checksum", "keep-git-dir"})
                   : check_flags(ins, {"from", "chown", "chmod", "link"}, {});
  if (!flags) return flags.error();
  CopyStep copy;
  copy.add = add;
  std::string flag_text;
  if (auto it = flags->find("from"); it != flags->end()) {
    if (it->second.empty()) return invalid_argument("COPY --from requires a value");
    copy.from = it->second;
    if (auto s = stage_.copy_from_stage.find(&ins); s != stage_.copy_from_stage.end()) {
      copy.from_stage = s->second;
    }
    flag_text += "--from=" + it->second + " ";
  }
  if (auto it = flags->find("chown"); it != flags->end()) {
    auto v = expand(it->second);
    if (!v) return v.error();
    copy.chown = *v;
    if (!copy.chown.empty()) flag_text += "--chown=" + copy.chown + " ";
  }
  if (auto it = flags->find("chmod"); it != flags->end()) {
    auto v = expand(it->second);
    if (!v) return v.error();
    bool octal = !v->empty() && v->size() <= 4 &&
                 std::all_of(v->begin(), v->end(), [](char c) { return c >= '0' && c <= '7'; });
    if (!octal) {
      return invalid_argument("invalid chmod parameter '" + *v +
                              "': it must be an octal number between 0 and 07777");
    }
    copy.chmod = static_cast<uint32_t>(std::stoul(*v, nullptr, 8));
    flag_text += "--chmod=" + *v + " ";
  }

  std::vector<std::string> words;
  if (ins.json_form) {
    for (const std::string& arg : ins.args) {
      auto v = expand(arg);
      if (!v) return v.error();
      words.push_back(*v);
    }
  } else {
    auto v = expand_words(
        ins.rest, [this](std::string_view n) { return lookup(n); }, plan_.escape);
    if (!v) return v.error();
    words = std::move(*v);
  }
  if (words.size() < 2) {
    return invalid_argument(ins.keyword +
                            " requires at least two arguments, but only one was provided. "
                            "Destination could not be determined.");
  }
  std::string dest_word = words.back();
  words.pop_back();
  if (dest_word.empty()) return invalid_argument(ins.keyword + ": the destination is empty");
  for (const std::string& word : words) {
    std::string name = heredoc_name(word);
    auto h = std::find_if(ins.heredocs.begin(), ins.heredocs.end(),
                          [&](const Heredoc& d) { return !name.empty() && d.name == name; });
    if (h == ins.heredocs.end()) {
      copy.sources.push_back(word);
      continue;
    }
    Heredoc file = *h;
    if (file.strip_tabs) file.body = strip_leading_tabs(file.body);
    if (file.expand) {
      auto body = expand_heredoc_body(
          file.body, [this](std::string_view n) { return lookup(n); }, plan_.escape);
      if (!body) return body.error();
      file.body = *body;
    }
    copy.sources.push_back(file.name);
    copy.inline_files.push_back(std::move(file));
  }
  bool dir_dest = dest_word.back() == '/' || dest_word == "." ||
                  (dest_word.size() >= 2 && dest_word.compare(dest_word.size() - 2, 2, "/.") == 0);
  if (copy.sources.size() > 1 && !dir_dest) {
    return invalid_argument("When using " + ins.keyword +
                            " with more than one source file, the destination must be a "
                            "directory and end with a /");
  }
  copy.dest = resolve_against(settings_.workdir, dest_word);
  if (dir_dest && copy.dest != "/") copy.dest += "/";

  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  write_string(w, "kind", ins.keyword);
  write_string(w, "from", copy.from.value_or(""));
  write_string(w, "chown", copy.chown);
  w.Key("chmod");
  if (copy.chmod) {
    w.Uint(*copy.chmod);
  } else {
    w.Null();
  }
  write_strings(w, "sources", copy.sources);
  w.Key("inline");
  w.StartArray();
  for (const Heredoc& h : copy.inline_files) {
    w.StartObject();
    write_string(w, "name", h.name);
    write_string(w, "body", h.body);
    w.EndObject();
  }
  w.EndArray();
  write_string(w, "dest", copy.dest);
  w.EndObject();
  step.cache_text.assign(sb.GetString(), sb.GetSize());

  step.created_by =
      ins.keyword + " " + flag_text + join(words, " ") + " " + dest_word + " # buildkit";
  step.kind = Step::Kind::kCopy;
  step.copy = std::move(copy);
  return {};
}

}  // namespace matchlock::dockerbuild
