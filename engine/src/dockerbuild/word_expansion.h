// Variable expansion and word splitting of Dockerfile arguments, with Docker's rules (its shell
// lexer, not a shell): `$VAR`, `${VAR}`, `${VAR:-w}` `${VAR-w}` `${VAR:+w}` `${VAR+w}`
// `${VAR:?msg}` `${VAR?msg}`, `${VAR#pat}` `${VAR##pat}` `${VAR%pat}` `${VAR%%pat}`
// `${VAR/pat/repl}` `${VAR//pat/repl}`; single quotes are literal, double quotes expand; the
// escape character escapes the next character (inside double quotes only `"`, `$` and itself);
// quotes and escapes are removed; an unset variable expands to "".
// Variable names are ASCII letters, digits and '_' (Docker also takes non-ASCII letters).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace matchlock::dockerbuild {

// nullopt = the variable is not set (distinct from set to "": `${A-x}` vs `${A:-x}`).
using VariableLookup = std::function<std::optional<std::string>(std::string_view name)>;

// One word, expanded and unquoted; whitespace is kept ("ENV A=$B", "WORKDIR $DIR").
Result<std::string> expand_word(std::string_view word, const VariableLookup& lookup, char escape);

// Expanded and split on unquoted whitespace ("COPY $SRC /dst"). As in Docker, the value of an
// unquoted `$VAR` is split too ("a b" gives two words; "$VAR" quoted stays one); empty words
// are dropped.
Result<std::vector<std::string>> expand_words(std::string_view text, const VariableLookup& lookup,
                                              char escape);

// The knobs of the lexer the parser needs to find heredoc delimiters in a line as written.
struct LexOptions {
  bool keep_quotes = false;   // quote characters stay in the output
  bool keep_escapes = false;  // escape characters stay in the output
  bool keep_unset = false;    // an unset variable stays as written (`$A`, `${A:-x}`)
};
Result<std::vector<std::string>> lex_words(std::string_view text, const VariableLookup& lookup,
                                           char escape, const LexOptions& options);

// The assignments of ENV, LABEL and ARG, split as Docker does but not expanded: keys and values
// keep their quotes and escapes so that expand_word can process each ("k=v k2=\"v 2\"" gives
// {k, v}, {k2, "\"v 2\""}). With allow_legacy_space_form (ENV, LABEL), a first word without '='
// means the legacy `NAME VALUE...` form: one pair, the value is the rest of the text. Without it
// (ARG), a word without '=' is a name alone, given with an empty value (parse_arg_definitions
// tells `ARG A` from `ARG A=`). Errors: a word without '=' in the `k=v` form, an empty name.
Result<std::vector<std::pair<std::string, std::string>>> parse_key_values(
    std::string_view rest, char escape, bool allow_legacy_space_form);

// ARG's definitions: `ARG A B=1 C=` gives {A, nullopt}, {B, "1"}, {C, ""} (values unexpanded).
struct ArgDefinition {
  std::string name;
  std::optional<std::string> default_value;
};
Result<std::vector<ArgDefinition>> parse_arg_definitions(std::string_view rest, char escape);

}  // namespace matchlock::dockerbuild
