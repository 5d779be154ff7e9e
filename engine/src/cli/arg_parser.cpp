#include "cli/arg_parser.h"

#include <algorithm>
#include <cassert>
#include <utility>

namespace matchlock::cli {
namespace {

constexpr const char* kHelpName = "help";
constexpr char kHelpShort = 'h';

Result<bool> parse_bool(const std::string& text, const std::string& flag_name) {
  if (text == "true" || text == "1") return true;
  if (text == "false" || text == "0") return false;
  return invalid_argument("invalid value \"" + text + "\" for --" + flag_name +
                          ": expected true or false");
}

std::vector<std::string> rest_of(std::span<const std::string> args, size_t from) {
  return {args.begin() + static_cast<std::ptrdiff_t>(from), args.end()};
}

}  // namespace

bool ParsedArgs::is_set(const std::string& long_name) const {
  return given_.contains(long_name);
}

bool ParsedArgs::flag(const std::string& long_name) const {
  auto it = bools_.find(long_name);
  return it != bools_.end() && it->second;
}

std::optional<std::string> ParsedArgs::value(const std::string& long_name) const {
  auto it = given_.find(long_name);
  if (it == given_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> ParsedArgs::values(const std::string& long_name) const {
  auto it = given_.find(long_name);
  return it == given_.end() ? std::vector<std::string>{} : it->second;
}

ArgParser::ArgParser(std::string usage_line, std::string summary)
    : usage_line_(std::move(usage_line)), summary_(std::move(summary)) {}

ArgParser& ArgParser::add(Spec spec) {
  // Programming errors in a command's flag table, caught by the first test that builds it.
  assert(!spec.long_name.empty() && spec.long_name != kHelpName && spec.short_name != kHelpShort);
  assert(!find_long(spec.long_name));
  assert(spec.short_name == '\0' || !find_short(spec.short_name));
  specs_.push_back(std::move(spec));
  return *this;
}

ArgParser& ArgParser::add_bool(std::string long_name, char short_name, std::string help,
                               bool default_value) {
  return add(
      {std::move(long_name), short_name, Kind::kBool, "", std::move(help), "", default_value});
}

ArgParser& ArgParser::add_value(std::string long_name, char short_name, std::string value_name,
                                std::string help, std::string default_text) {
  return add({std::move(long_name), short_name, Kind::kValue, std::move(value_name),
              std::move(help), std::move(default_text), false});
}

ArgParser& ArgParser::add_repeated(std::string long_name, char short_name, std::string value_name,
                                   std::string help) {
  return add({std::move(long_name), short_name, Kind::kRepeated, std::move(value_name),
              std::move(help), "", false});
}

const ArgParser::Spec* ArgParser::find_long(const std::string& name) const {
  auto it = std::find_if(specs_.begin(), specs_.end(),
                         [&](const Spec& s) { return s.long_name == name; });
  return it == specs_.end() ? nullptr : &*it;
}

const ArgParser::Spec* ArgParser::find_short(char c) const {
  auto it =
      std::find_if(specs_.begin(), specs_.end(), [&](const Spec& s) { return s.short_name == c; });
  return it == specs_.end() ? nullptr : &*it;
}

Result<ParsedArgs> ArgParser::parse(std::span<const std::string> args,
                                    bool stop_at_first_positional) const {
  ParsedArgs out;
  for (const Spec& s : specs_) {
    if (s.kind == Kind::kBool) out.bools_[s.long_name] = s.bool_default;
  }
  auto record = [&out](const Spec& spec, std::string raw) {
    out.given_[spec.long_name].push_back(std::move(raw));
  };
  auto record_bool = [&](const Spec& spec, bool v) {
    out.bools_[spec.long_name] = v;
    record(spec, v ? "true" : "false");
  };

  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      out.saw_double_dash = true;
      auto rest = rest_of(args, i + 1);
      out.positionals.insert(out.positionals.end(), rest.begin(), rest.end());
      break;
    }

    if (arg.size() > 2 && arg.starts_with("--")) {
      const std::string body = arg.substr(2);
      const size_t eq = body.find('=');
      const std::string name = body.substr(0, eq);
      std::optional<std::string> inline_value;
      if (eq != std::string::npos) inline_value = body.substr(eq + 1);

      if (name == kHelpName) {
        auto v = inline_value ? parse_bool(*inline_value, name) : Result<bool>(true);
        if (!v.ok()) return v.error();
        out.help = *v;
        continue;
      }
      const Spec* spec = find_long(name);
      if (!spec) return invalid_argument("unknown flag: --" + name);
      if (spec->kind == Kind::kBool) {
        // A bool never consumes the next word: `--rm false` leaves "false" as a positional.
        auto v = inline_value ? parse_bool(*inline_value, name) : Result<bool>(true);
        if (!v.ok()) return v.error();
        record_bool(*spec, *v);
      } else if (inline_value) {
        record(*spec, *inline_value);
      } else if (i + 1 < args.size()) {
        record(*spec, args[++i]);  // taken even if it starts with '-', like docker
      } else {
        return invalid_argument("flag --" + name + " needs a value");
      }
      continue;
    }

    if (arg.size() > 1 && arg[0] == '-') {
      // A cluster of shorthands: bools may be combined (-it); a value flag ends the cluster,
      // taking the rest of the word (-w/tmp, -w=/tmp) or else the next word.
      for (size_t j = 1; j < arg.size(); ++j) {
        const char c = arg[j];
        if (c == kHelpShort) {
          out.help = true;
          continue;
        }
        const Spec* spec = find_short(c);
        if (!spec) {
          return invalid_argument(std::string("unknown shorthand flag: '") + c + "' in " + arg);
        }
        if (spec->kind == Kind::kBool) {
          if (j + 1 < arg.size() && arg[j + 1] == '=') {
            auto v = parse_bool(arg.substr(j + 2), spec->long_name);
            if (!v.ok()) return v.error();
            record_bool(*spec, *v);
            break;
          }
          record_bool(*spec, true);
          continue;
        }
        std::string rest = arg.substr(j + 1);
        if (!rest.empty()) {
          record(*spec, rest[0] == '=' ? rest.substr(1) : rest);
        } else if (i + 1 < args.size()) {
          record(*spec, args[++i]);
        } else {
          return invalid_argument("flag --" + spec->long_name + " needs a value");
        }
        break;
      }
      continue;
    }

    // A positional word ("-" alone counts as one, by convention for stdin).
    if (stop_at_first_positional) {
      auto rest = rest_of(args, i);
      out.positionals.insert(out.positionals.end(), rest.begin(), rest.end());
      break;
    }
    out.positionals.push_back(arg);
  }
  return out;
}

std::string ArgParser::help_text() const {
  struct Row {
    std::string left;
    std::string right;
  };
  std::vector<Row> rows;
  for (const Spec& s : specs_) {
    std::string left = s.short_name ? std::string("-") + s.short_name + ", " : "    ";
    left += "--" + s.long_name;
    if (s.kind != Kind::kBool) left += " " + s.value_name;
    std::string right = s.help;
    if (s.kind == Kind::kBool && s.bool_default) right += " (default true)";
    if (s.kind == Kind::kValue && !s.default_text.empty()) {
      right += " (default " + s.default_text + ")";
    }
    if (s.kind == Kind::kRepeated) right += " (repeatable)";
    rows.push_back({std::move(left), std::move(right)});
  }
  rows.push_back({"-h, --help", "Show this help"});

  size_t width = 0;
  for (const Row& r : rows) width = std::max(width, r.left.size());

  std::string text = "Usage: " + usage_line_ + "\n";
  if (!summary_.empty()) text += "\n" + summary_ + "\n";
  text += "\nFlags:\n";
  for (const Row& r : rows) {
    text += "  " + r.left + std::string(width - r.left.size() + 3, ' ') + r.right + "\n";
  }
  return text;
}

}  // namespace matchlock::cli
