// A small docker-like flag parser for the CLI subcommands: long and short flags, bool flags
// with optional =true|false, combined short bools (-it), repeated flags, "--" separator.
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"

namespace matchlock::cli {

class ArgParser;

struct ParsedArgs {
  bool help = false;             // -h/--help seen (always supported)
  bool saw_double_dash = false;  // "--" ended the flags
  std::vector<std::string> positionals;

  // Given explicitly on the command line (even if to its default value).
  bool is_set(const std::string& long_name) const;
  // A bool flag's value: the last occurrence, else its default; false for unknown names.
  bool flag(const std::string& long_name) const;
  // A value flag's last occurrence; nullopt if not given (defaults are for help text only).
  std::optional<std::string> value(const std::string& long_name) const;
  // Every occurrence in command-line order (repeated flags).
  std::vector<std::string> values(const std::string& long_name) const;

 private:
  friend class ArgParser;
  std::map<std::string, std::vector<std::string>> given_;  // long name -> raw values in order
  std::map<std::string, bool> bools_;                      // bool flags: current value
};

class ArgParser {
 public:
  // usage_line: "matchlock run [flags] [--] COMMAND [ARG...]"; summary: one sentence.
  ArgParser(std::string usage_line, std::string summary);

  // short_name '\0' means no shorthand. Names must be unique; "help" and 'h' are reserved.
  ArgParser& add_bool(std::string long_name, char short_name, std::string help,
                      bool default_value = false);
  ArgParser& add_value(std::string long_name, char short_name, std::string value_name,
                       std::string help, std::string default_text = "");
  ArgParser& add_repeated(std::string long_name, char short_name, std::string value_name,
                          std::string help);

  // Stops at "--" (the rest are positionals) or, if stop_at_first_positional, at the first
  // positional word (so `run --image x echo -n hi` keeps -n for the command).
  Result<ParsedArgs> parse(std::span<const std::string> args,
                           bool stop_at_first_positional = true) const;

  // Usage, summary and an aligned flag table with defaults.
  std::string help_text() const;

 private:
  enum class Kind { kBool, kValue, kRepeated };
  struct Spec {
    std::string long_name;
    char short_name = '\0';
    Kind kind = Kind::kBool;
    std::string value_name;
    std::string help;
    std::string default_text;
    bool bool_default = false;
  };

  ArgParser& add(Spec spec);
  const Spec* find_long(const std::string& name) const;
  const Spec* find_short(char c) const;

  std::string usage_line_;
  std::string summary_;
  std::vector<Spec> specs_;  // registration order = help order
};

}  // namespace matchlock::cli
