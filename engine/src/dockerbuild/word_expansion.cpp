#include "dockerbuild/word_expansion.h"

#include <algorithm>
#include <cctype>

#include "core/printable.h"
#include "dockerbuild/shell_pattern.h"

namespace matchlock::dockerbuild {

namespace {

constexpr int kEnd = -1;

bool is_space(int ch) {
  return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\v' || ch == '\f' || ch == '\r';
}

bool is_name_char(int ch) {
  return ch >= 0 && (std::isalnum(ch) || ch == '_');
}

// POSIX special parameters: `$@`, `$?`, ... are names of one character (all unset here).
bool is_special_parameter(int ch) {
  switch (ch) {
    case '@':
    case '*':
    case '#':
    case '?':
    case '-':
    case '$':
    case '!':
    case '0':
      return true;
    default:
      return false;
  }
}

// The words being collected while a text is expanded: characters from an unquoted `$VAR` are
// split on whitespace, characters from quotes or escapes never are.
class WordCollector {
 public:
  void add_splittable(char ch) {
    if (is_space(static_cast<unsigned char>(ch))) {
      if (in_word_ && !word_.empty()) {
        words_.push_back(std::move(word_));
        word_.clear();
        in_word_ = false;
      }
      return;
    }
    add_literal(ch);
  }
  void add_splittable(std::string_view s) {
    for (char ch : s) add_splittable(ch);
  }
  void add_literal(char ch) {
    word_ += ch;
    in_word_ = true;
  }
  void add_literal(std::string_view s) {
    word_ += s;
    in_word_ = true;
  }
  std::vector<std::string> finish() {
    if (!word_.empty()) words_.push_back(std::move(word_));
    word_.clear();
    in_word_ = false;
    return std::move(words_);
  }

 private:
  std::vector<std::string> words_;
  std::string word_;
  bool in_word_ = false;
};

struct Expanded {
  std::string text;
  std::vector<std::string> words;
};

Error syntax_error(std::string message) {
  return invalid_argument(std::move(message));
}

// One pass over a text, as Docker's shell lexer makes it.
class ShellLexer {
 public:
  ShellLexer(std::string_view text, const VariableLookup& lookup, char escape,
             const LexOptions& options)
      : text_(text),
        lookup_(lookup),
        escape_(static_cast<unsigned char>(escape)),
        options_(options),
        raw_escapes_(options.keep_escapes) {}

  Result<Expanded> run() { return process_until(kEnd, options_.keep_escapes); }

 private:
  int peek() const { return pos_ < text_.size() ? static_cast<unsigned char>(text_[pos_]) : kEnd; }
  int next() { return pos_ < text_.size() ? static_cast<unsigned char>(text_[pos_++]) : kEnd; }

  std::optional<std::string> variable(std::string_view name) const {
    return lookup_ ? lookup_(name) : std::nullopt;
  }

  // Reads up to `stop` (consumed; kEnd = the whole text). raw_escapes is the lexer's mode for
  // this stretch: `${A#pat}` keeps escapes so that the pattern sees them.
  // Each nested `${...}` recurses here: a Dockerfile nesting 100 000 of them overflowed the
  // stack, so nesting is bounded (real Dockerfiles nest two or three).
  Result<Expanded> process_until(int stop, bool raw_escapes) {
    if (depth_ >= kMaxNesting) {
      return syntax_error("substitutions nested deeper than " + std::to_string(kMaxNesting));
    }
    ++depth_;
    const bool saved_raw = raw_escapes_;
    raw_escapes_ = raw_escapes;
    auto result = process_until_inner(stop);
    raw_escapes_ = saved_raw;
    --depth_;
    return result;
  }

  Result<Expanded> process_until_inner(int stop) {
    std::string text;
    WordCollector words;
    while (peek() != kEnd) {
      const int ch = peek();
      if (stop != kEnd && ch == stop) {
        next();
        return Expanded{std::move(text), words.finish()};
      }
      if (ch == '$' || ch == '\'' || ch == '"') {
        auto part = ch == '$' ? dollar() : ch == '\'' ? single_quoted() : double_quoted();
        if (!part.ok()) return part.error();
        text += *part;
        if (ch == '$') {
          words.add_splittable(*part);
        } else {
          words.add_literal(*part);
        }
        continue;
      }
      int c = next();
      if (c == escape_) {
        if (raw_escapes_) {
          words.add_literal(static_cast<char>(c));
          text += static_cast<char>(c);
        }
        c = next();
        if (c == kEnd) break;  // an escape at the very end is dropped
        words.add_literal(static_cast<char>(c));
      } else {
        words.add_splittable(static_cast<char>(c));
      }
      text += static_cast<char>(c);
    }
    if (stop != kEnd) {
      return syntax_error(std::string("unexpected end of statement while looking for matching ") +
                          static_cast<char>(stop));
    }
    return Expanded{std::move(text), words.finish()};
  }

  // Everything up to the closing quote, as is; a single quote cannot be escaped inside.
  Result<std::string> single_quoted() {
    std::string out;
    const int open = next();
    if (options_.keep_quotes) out += static_cast<char>(open);
    for (;;) {
      const int ch = next();
      if (ch == kEnd) {
        return syntax_error("unexpected end of statement while looking for matching single-quote");
      }
      if (ch == '\'') {
        if (options_.keep_quotes) out += '\'';
        return out;
      }
      out += static_cast<char>(ch);
    }
  }

  // Expands `$`; the escape character escapes only `"`, `$` and itself, else it stays.
  Result<std::string> double_quoted() {
    std::string out;
    const int open = next();
    if (options_.keep_quotes) out += static_cast<char>(open);
    for (;;) {
      const int ch = peek();
      if (ch == kEnd) {
        return syntax_error("unexpected end of statement while looking for matching double-quote");
      }
      if (ch == '"') {
        next();
        if (options_.keep_quotes) out += '"';
        return out;
      }
      if (ch == '$') {
        auto value = dollar();
        if (!value.ok()) return value.error();
        out += *value;
        continue;
      }
      int c = next();
      if (c == escape_) {
        if (raw_escapes_) out += static_cast<char>(c);
        const int after = peek();
        if (after == kEnd) continue;
        if (after == '"' || after == '$' || after == escape_) c = next();
      }
      out += static_cast<char>(c);
    }
  }

  // A name after `$`: a run of digits, one special parameter character, or [A-Za-z0-9_]+.
  std::string name() {
    std::string out;
    while (peek() != kEnd) {
      const int ch = peek();
      if (out.empty() && std::isdigit(ch)) {
        while (peek() != kEnd && std::isdigit(peek())) out += static_cast<char>(next());
        return out;
      }
      if (out.empty() && is_special_parameter(ch)) {
        out += static_cast<char>(next());
        return out;
      }
      if (!is_name_char(ch)) break;
      out += static_cast<char>(next());
    }
    return out;
  }

  Result<std::string> dollar() {
    next();  // '$'
    if (peek() != '{') {
      std::string n = name();
      if (n.empty()) return std::string("$");
      auto value = variable(n);
      if (!value && options_.keep_unset) return "$" + n;
      return value.value_or("");
    }
    next();  // '{'
    const int first = peek();
    if (first == kEnd) return syntax_error("syntax error: missing '}'");
    if (first == '{' || first == '}' || first == ':') {
      return syntax_error("syntax error: bad substitution");
    }
    std::string n = name();
    int op = next();
    if (op == kEnd) return syntax_error("syntax error: missing '}'");
    if (op == '}') {
      auto value = variable(n);
      if (!value && options_.keep_unset) return "${" + n + "}";
      return value.value_or("");
    }
    if (op == '/') return substitution(n);
    std::string modifier(1, static_cast<char>(op));
    bool null_is_unset = false;
    if (op == ':') {
      null_is_unset = true;
      op = next();
      if (op == kEnd) return syntax_error("syntax error: missing '}'");
      modifier += static_cast<char>(op);
    } else if (op != '+' && op != '-' && op != '?' && op != '#' && op != '%') {
      return syntax_error("unsupported modifier (" + modifier + ") in substitution");
    }
    return modified(n, modifier, op, null_is_unset);
  }

  // `${NAME<modifier>word}` once NAME and the modifier are read.
  Result<std::string> modified(const std::string& n, const std::string& modifier, int op,
                               bool null_is_unset) {
    auto word = process_until('}', op == '#' || op == '%');
    if (!word.ok()) {
      if (peek() == kEnd) return syntax_error("syntax error: missing '}'");
      return word.error();
    }
    const std::string& w = word->text;
    auto value = variable(n);
    if (!value && options_.keep_unset) return "${" + n + modifier + w + "}";
    const bool empty = !value || (null_is_unset && value->empty());
    switch (op) {
      case '-':
        return empty ? w : *value;
      case '+':
        return empty ? std::string() : w;
      case '?':
        if (!value) return syntax_error(n + ": " + (w.empty() ? "is not allowed to be unset" : w));
        if (empty) return syntax_error(n + ": " + (w.empty() ? "is not allowed to be empty" : w));
        return *value;
      case '#':
      case '%': {
        std::string_view pattern = w;
        const bool longest = !pattern.empty() && pattern[0] == op;
        if (longest) pattern.remove_prefix(1);
        auto trimmed = op == '#' ? trim_shell_pattern_prefix(value.value_or(""), pattern, longest)
                                 : trim_shell_pattern_suffix(value.value_or(""), pattern, longest);
        if (!trimmed.ok()) return trimmed.error();
        return *trimmed;
      }
      default:
        return syntax_error("unsupported modifier (" + modifier + ") in substitution");
    }
  }

  // `${NAME/pattern/replacement}` and `${NAME//pattern/replacement}` (every match).
  Result<std::string> substitution(const std::string& n) {
    const bool all = peek() == '/';
    if (all) next();
    auto pattern = process_until('/', true);
    if (!pattern.ok()) {
      if (peek() == kEnd) return syntax_error("syntax error: missing '/' in ${}");
      return pattern.error();
    }
    auto replacement = process_until('}', true);
    if (!replacement.ok()) {
      if (peek() == kEnd) return syntax_error("syntax error: missing '}'");
      return replacement.error();
    }
    auto value = variable(n);
    if (!value && options_.keep_unset) {
      return "${" + n + "/" + pattern->text + "/" + replacement->text + "}";
    }
    return replace_shell_pattern(value.value_or(""), pattern->text, replacement->text, all);
  }

  static constexpr int kMaxNesting = 128;

  std::string_view text_;
  size_t pos_ = 0;
  int depth_ = 0;
  const VariableLookup& lookup_;
  int escape_;
  LexOptions options_;
  bool raw_escapes_;
};

Result<Expanded> lex(std::string_view text, const VariableLookup& lookup, char escape,
                     const LexOptions& options) {
  auto result = ShellLexer(text, lookup, escape, options).run();
  if (!result.ok()) {
    // The text as written, but only its start: an error line must stay one readable line.
    return result.error().with_context("failed to process \"" + abbreviated(text) + "\"");
  }
  return result;
}

// Docker's word splitting for key=value lists: whitespace separates words except inside
// quotes; quotes and escapes stay in the words (they are removed when a word is expanded).
std::vector<std::string> split_keeping_quotes(std::string_view rest, char escape) {
  enum class Phase { kSpaces, kWord, kQuote } phase = Phase::kSpaces;
  std::vector<std::string> words;
  std::string word;
  char quote = 0;
  bool blank_ok = false;
  for (size_t pos = 0; pos <= rest.size(); ++pos) {
    const bool at_end = pos == rest.size();
    char ch = at_end ? 0 : rest[pos];
    if (phase == Phase::kSpaces) {
      if (at_end) break;
      if (is_space(static_cast<unsigned char>(ch))) continue;
      phase = Phase::kWord;
    }
    if (at_end) {
      if (blank_ok || !word.empty()) words.push_back(word);
      break;
    }
    if (phase == Phase::kWord) {
      if (is_space(static_cast<unsigned char>(ch))) {
        phase = Phase::kSpaces;
        if (blank_ok || !word.empty()) words.push_back(word);
        word.clear();
        blank_ok = false;
        continue;
      }
      if (ch == '\'' || ch == '"') {
        quote = ch;
        blank_ok = true;
        phase = Phase::kQuote;
      }
      if (ch == escape) {
        if (pos + 1 == rest.size()) continue;  // an escape at the very end is dropped
        // Outside quotes the escape and the next character stay together, even a quote.
        word += ch;
        ch = rest[++pos];
      }
      word += ch;
      continue;
    }
    // Phase::kQuote
    if (ch == quote) phase = Phase::kWord;
    if (ch == escape && quote != '\'') {
      if (pos + 1 == rest.size()) {
        phase = Phase::kWord;
        continue;
      }
      word += ch;
      ch = rest[++pos];
    }
    word += ch;
  }
  return words;
}

std::string_view trim_left(std::string_view s) {
  while (!s.empty() && is_space(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  return s;
}

}  // namespace

Result<std::vector<std::string>> lex_words(std::string_view text, const VariableLookup& lookup,
                                           char escape, const LexOptions& options) {
  auto result = lex(text, lookup, escape, options);
  if (!result.ok()) return result.error();
  return std::move(result->words);
}

Result<std::string> expand_word(std::string_view word, const VariableLookup& lookup, char escape) {
  auto result = lex(word, lookup, escape, LexOptions{});
  if (!result.ok()) return result.error();
  return std::move(result->text);
}

Result<std::vector<std::string>> expand_words(std::string_view text, const VariableLookup& lookup,
                                              char escape) {
  return lex_words(text, lookup, escape, LexOptions{});
}

Result<std::vector<std::pair<std::string, std::string>>> parse_key_values(
    std::string_view rest, char escape, bool allow_legacy_space_form) {
  std::vector<std::pair<std::string, std::string>> pairs;
  const std::vector<std::string> words = split_keeping_quotes(rest, escape);
  if (words.empty()) return pairs;
  if (allow_legacy_space_form && words[0].find('=') == std::string::npos) {
    // `ENV NAME value with spaces`: the name is the first run of non-blanks, the value all the
    // rest as written.
    std::string_view text = trim_left(rest);
    size_t name_end = 0;
    while (name_end < text.size() && !is_space(static_cast<unsigned char>(text[name_end]))) {
      ++name_end;
    }
    std::string_view value = trim_left(text.substr(name_end));
    if (value.empty()) {
      return invalid_argument("'" + std::string(text.substr(0, name_end)) +
                              "' has no value: expected NAME=VALUE or NAME VALUE");
    }
    pairs.emplace_back(std::string(text.substr(0, name_end)), std::string(value));
    return pairs;
  }
  for (const std::string& word : words) {
    const size_t eq = word.find('=');
    if (eq == std::string::npos) {
      if (allow_legacy_space_form) {
        return invalid_argument("can't find = in \"" + word + "\": expected NAME=VALUE");
      }
      pairs.emplace_back(word, "");
      continue;
    }
    if (eq == 0) return invalid_argument("names can not be blank: \"" + word + "\"");
    pairs.emplace_back(word.substr(0, eq), word.substr(eq + 1));
  }
  return pairs;
}

Result<std::vector<ArgDefinition>> parse_arg_definitions(std::string_view rest, char escape) {
  std::vector<ArgDefinition> definitions;
  for (const std::string& word : split_keeping_quotes(rest, escape)) {
    const size_t eq = word.find('=');
    if (eq == 0) return invalid_argument("names can not be blank: \"" + word + "\"");
    if (eq == std::string::npos) {
      definitions.push_back({word, std::nullopt});
    } else {
      definitions.push_back({word.substr(0, eq), word.substr(eq + 1)});
    }
  }
  if (definitions.empty()) return invalid_argument("ARG requires at least one argument");
  return definitions;
}

}  // namespace matchlock::dockerbuild
