// Dockerfile text -> instructions, with Docker's line rules: parser directives at the very top,
// comments, line continuations (which skip comment and blank lines), flags, the exec (JSON) form
// and heredocs. Nothing is expanded here.
#include <rapidjson/document.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "core/json.h"
#include "dockerbuild/dockerfile.h"
#include "dockerbuild/word_expansion.h"

namespace matchlock::dockerbuild {

namespace {

constexpr std::array<std::string_view, 18> kKeywords = {
    "FROM",    "RUN", "CMD",     "LABEL",      "MAINTAINER",  "EXPOSE",
    "ENV",     "ADD", "COPY",    "ENTRYPOINT", "VOLUME",      "USER",
    "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"};

bool one_of(std::string_view keyword, std::initializer_list<std::string_view> set) {
  return std::find(set.begin(), set.end(), keyword) != set.end();
}
bool takes_flags(std::string_view kw) {
  return one_of(kw, {"FROM", "RUN", "COPY", "ADD", "HEALTHCHECK"});
}
bool has_exec_form(std::string_view kw) {
  return one_of(kw, {"RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"});
}
bool takes_heredocs(std::string_view kw) {
  return one_of(kw, {"RUN", "COPY", "ADD"});
}

Error line_error(int line, const std::string& message) {
  return invalid_argument("line " + std::to_string(line) + ": " + message);
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

std::string_view trim_left(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  return s;
}
std::string_view trim(std::string_view s) {
  s = trim_left(s);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}
std::string_view without_line_end(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}
bool is_comment(std::string_view raw_line) {
  std::string_view s = trim_left(without_line_end(raw_line));
  return !s.empty() && s.front() == '#';
}

// The physical lines of the file, each with its line end, counted from 1.
class SourceLines {
 public:
  explicit SourceLines(std::string_view text) : text_(text) {
    constexpr std::string_view kBom = "\xEF\xBB\xBF";
    if (text_.substr(0, kBom.size()) == kBom) text_.remove_prefix(kBom.size());
  }
  bool at_end() const { return pos_ >= text_.size(); }
  std::string_view next() {
    const size_t nl = text_.find('\n', pos_);
    const size_t end = nl == std::string_view::npos ? text_.size() : nl + 1;
    std::string_view line = text_.substr(pos_, end - pos_);
    pos_ = end;
    ++number_;
    return line;
  }
  int number() const { return number_; }  // of the line next() returned last

 private:
  std::string_view text_;
  size_t pos_ = 0;
  int number_ = 0;
};

// `# syntax=...` and `# escape=...`: only before any instruction, comment or blank line.
class Directives {
 public:
  // Looks at one line (line end and leading blanks removed) while directives may still come.
  Status consider(std::string_view line) {
    if (done_) return {};
    std::string key, value;
    if (!parse(line, key, value)) {
      done_ = true;
      return {};
    }
    if (key != "escape" && key != "syntax" && key != "check") {
      done_ = true;
      return {};
    }
    if (std::find(seen_.begin(), seen_.end(), key) != seen_.end()) {
      return invalid_argument("only one " + key + " parser directive can be used");
    }
    seen_.push_back(key);
    if (key == "escape") {
      if (value != "\\" && value != "`") {
        return invalid_argument("invalid escape token '" + value + "' does not match ` or \\");
      }
      escape_ = value[0];
    } else if (key == "syntax") {
      syntax_ = value;
    }
    return {};
  }
  char escape() const { return escape_; }
  const std::string& syntax() const { return syntax_; }

 private:
  // `#` blanks NAME blanks `=` blanks VALUE blanks, NAME = [A-Za-z][A-Za-z0-9]*.
  static bool parse(std::string_view line, std::string& key, std::string& value) {
    auto blank = [](char c) {
      return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
    };
    size_t i = 0;
    if (i >= line.size() || line[i] != '#') return false;
    ++i;
    while (i < line.size() && blank(line[i])) ++i;
    if (i >= line.size() || !std::isalpha(static_cast<unsigned char>(line[i]))) return false;
    const size_t key_begin = i;
    while (i < line.size() && std::isalnum(static_cast<unsigned char>(line[i]))) ++i;
    key = std::string(line.substr(key_begin, i - key_begin));
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    while (i < line.size() && blank(line[i])) ++i;
    if (i >= line.size() || line[i] != '=') return false;
    ++i;
    while (i < line.size() && blank(line[i])) ++i;
    size_t end = line.size();
    while (end > i && blank(line[end - 1])) --end;
    if (end == i) return false;
    value = std::string(line.substr(i, end - i));
    return true;
  }

  bool done_ = false;
  std::vector<std::string> seen_;
  char escape_ = '\\';
  std::string syntax_;
};

// A line ending in the escape character (blanks after it allowed) continues on the next line,
// unless that character is itself escaped. Removes the escape character and the blanks.
bool strip_continuation(std::string& line, char escape) {
  size_t end = line.size();
  while (end > 0 && (line[end - 1] == ' ' || line[end - 1] == '\t')) --end;
  if (end == 0 || line[end - 1] != escape) return false;
  if (end >= 2 && line[end - 2] == escape) return false;
  line.resize(end - 1);
  return true;
}

// Leading `--name[=value]` words (quotes removed, '\' escapes); a `--` word ends them. Returns
// the text after the flags.
Result<std::string_view> extract_flags(std::string_view text,
                                       std::vector<std::pair<std::string, std::string>>& flags) {
  enum class Phase { kSpaces, kWord, kQuote } phase = Phase::kSpaces;
  std::vector<std::string> words;
  std::string word;
  char quote = 0;
  bool blank_ok = false;
  std::string_view rest;
  for (size_t pos = 0; pos <= text.size(); ++pos) {
    const bool at_end = pos == text.size();
    char ch = at_end ? 0 : text[pos];
    if (phase == Phase::kSpaces) {
      if (at_end) break;
      if (is_space(ch)) continue;
      if (ch != '-' || pos + 1 == text.size() || text[pos + 1] != '-') {
        rest = text.substr(pos);
        break;
      }
      phase = Phase::kWord;
    }
    if (at_end) {
      if (word != "--" && (blank_ok || !word.empty())) words.push_back(word);
      break;
    }
    if (phase == Phase::kWord) {
      if (is_space(ch)) {
        phase = Phase::kSpaces;
        if (word == "--") {
          rest = text.substr(pos);
          break;
        }
        if (blank_ok || !word.empty()) words.push_back(word);
        word.clear();
        blank_ok = false;
        continue;
      }
      if (ch == '\'' || ch == '"') {
        quote = ch;
        blank_ok = true;
        phase = Phase::kQuote;
        continue;
      }
      if (ch == '\\') {
        if (pos + 1 == text.size()) continue;
        ch = text[++pos];
      }
      word += ch;
      continue;
    }
    if (ch == quote) {
      phase = Phase::kWord;
      continue;
    }
    if (ch == '\\') {
      if (pos + 1 == text.size()) {
        phase = Phase::kWord;
        continue;
      }
      ch = text[++pos];
    }
    word += ch;
  }
  for (const std::string& w : words) {
    if (w.size() < 3 || w.compare(0, 2, "--") != 0) {
      return invalid_argument("flag should start with -- and have a name: " + w);
    }
    const size_t eq = w.find('=');
    if (eq == 2) return invalid_argument("flag without a name: " + w);
    if (eq == std::string::npos) {
      flags.emplace_back(w.substr(2), "");
    } else {
      flags.emplace_back(w.substr(2, eq - 2), w.substr(eq + 1));
    }
  }
  return rest;
}

// `<<EOF`, `<<-EOF`, `<<"EOF"`, `2<<EOF` among the words of the instruction line (quotes and
// escapes as written). A quoted delimiter turns expansion of the body off.
Result<std::vector<Heredoc>> find_heredocs(std::string_view line) {
  std::vector<Heredoc> heredocs;
  const LexOptions as_written{.keep_quotes = true, .keep_escapes = true, .keep_unset = true};
  auto words = lex_words(line, nullptr, '\\', as_written);
  if (!words.ok()) return heredocs;  // an unbalanced quote: not a heredoc line (as Docker)
  for (const std::string& word : *words) {
    size_t i = 0;
    while (i < word.size() && std::isdigit(static_cast<unsigned char>(word[i]))) ++i;
    if (word.compare(i, 2, "<<") != 0) continue;
    i += 2;
    const bool strip_tabs = i < word.size() && word[i] == '-';
    if (strip_tabs) ++i;
    std::string_view delimiter = std::string_view(word).substr(i);
    if (delimiter.empty() || delimiter.find('<') != std::string_view::npos) continue;
    auto unquoted = lex_words(delimiter, nullptr, '\\', LexOptions{.keep_unset = true});
    if (!unquoted.ok()) return unquoted.error();
    if (unquoted->size() != 1) continue;
    auto quoted =
        lex_words(delimiter, nullptr, '\\', LexOptions{.keep_quotes = true, .keep_unset = true});
    if (!quoted.ok()) return quoted.error();
    if (quoted->size() != 1) return invalid_argument("cannot read the heredoc delimiter " + word);
    auto quote_count = [](const std::string& s) {
      return std::count(s.begin(), s.end(), '\'') + std::count(s.begin(), s.end(), '"');
    };
    Heredoc heredoc;
    heredoc.name = (*unquoted)[0];
    heredoc.expand = quote_count((*unquoted)[0]) == quote_count((*quoted)[0]);
    heredoc.strip_tabs = strip_tabs;
    heredocs.push_back(std::move(heredoc));
  }
  return heredocs;
}

std::string_view strip_leading_tabs(std::string_view s) {
  while (!s.empty() && s.front() == '\t') s.remove_prefix(1);
  return s;
}

// The bodies follow the instruction line, one after the other, each up to its delimiter line.
Status read_heredoc_bodies(SourceLines& lines, int instruction_line,
                           std::vector<Heredoc>& heredocs) {
  for (Heredoc& heredoc : heredocs) {
    bool terminated = false;
    while (!lines.at_end()) {
      std::string_view raw = lines.next();
      std::string_view candidate = without_line_end(raw);
      if (heredoc.strip_tabs) candidate = strip_leading_tabs(candidate);
      if (candidate == heredoc.name) {
        terminated = true;
        break;
      }
      heredoc.body += heredoc.strip_tabs ? strip_leading_tabs(raw) : raw;
    }
    if (!terminated) {
      return line_error(instruction_line, "unterminated heredoc: no line " + heredoc.name);
    }
  }
  return {};
}

// One logical line (continuations joined) into an instruction; heredoc bodies come later.
Result<Instruction> parse_instruction(std::string_view line, int number) {
  Instruction ins;
  ins.line = number;
  const std::string_view text = trim(line);
  ins.original = std::string(text);
  size_t kw_end = 0;
  while (kw_end < text.size() && !is_space(text[kw_end])) ++kw_end;
  const std::string_view written = text.substr(0, kw_end);
  ins.keyword = std::string(written);
  std::transform(ins.keyword.begin(), ins.keyword.end(), ins.keyword.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (std::find(kKeywords.begin(), kKeywords.end(), ins.keyword) == kKeywords.end()) {
    return line_error(number, "unknown instruction: " + std::string(written));
  }
  std::string_view args = trim_left(text.substr(kw_end));
  if (takes_flags(ins.keyword)) {
    auto after_flags = extract_flags(args, ins.flags);
    if (!after_flags.ok()) return line_error(number, after_flags.error().message);
    args = *after_flags;
  }
  ins.rest = std::string(trim(args));
  if (has_exec_form(ins.keyword) && !ins.rest.empty()) {
    auto array = parse_json_string_array(ins.rest);
    if (!array.ok()) return line_error(number, array.error().message);
    if (array->has_value()) {
      ins.json_form = true;
      ins.args = std::move(**array);
    }
  }
  if (ins.keyword == "SHELL" && !ins.json_form) {
    return line_error(number, "SHELL requires the arguments to be in JSON form");
  }
  return ins;
}

// Whether the instruction's line may open heredocs: RUN/COPY/ADD in shell form, directly or as
// the trigger of an ONBUILD.
bool may_have_heredocs(const Instruction& ins) {
  if (ins.keyword == "ONBUILD") {
    auto trigger = parse_instruction(ins.rest, ins.line);
    return trigger.ok() && may_have_heredocs(*trigger);
  }
  return takes_heredocs(ins.keyword) && !ins.json_form;
}

}  // namespace

Result<std::optional<std::vector<std::string>>> parse_json_string_array(std::string_view text) {
  text = trim_left(text);
  if (text.empty() || text.front() != '[') return std::optional<std::vector<std::string>>();
  json::Document doc;
  doc.Parse<rapidjson::kParseStopWhenDoneFlag>(text.data(), text.size());
  if (doc.HasParseError() || !doc.IsArray()) return std::optional<std::vector<std::string>>();
  std::vector<std::string> strings;
  for (const auto& element : doc.GetArray()) {
    if (!element.IsString()) {
      return invalid_argument(
          "when using JSON array syntax, arrays must be comprised of strings only");
    }
    strings.emplace_back(element.GetString(), element.GetStringLength());
  }
  return std::optional<std::vector<std::string>>(std::move(strings));
}

// Long because it is Docker's line loop in one place: directives, comments, continuation lines
// (with comment and blank lines inside them skipped) and the heredoc bodies that follow a line.
Result<Dockerfile> parse_dockerfile(std::string_view text) {
  Dockerfile dockerfile;
  Directives directives;
  SourceLines lines(text);
  while (!lines.at_end()) {
    std::string_view first = trim_left(without_line_end(lines.next()));
    const int start = lines.number();
    if (auto st = directives.consider(first); !st.ok())
      return line_error(start, st.error().message);
    const char escape = directives.escape();
    std::string line = first.starts_with('#') ? std::string() : std::string(first);
    bool continues = strip_continuation(line, escape);
    if (!continues && line.empty()) continue;
    while (continues && !lines.at_end()) {
      std::string_view raw = lines.next();
      std::string_view part = without_line_end(raw);
      if (auto st = directives.consider(part); !st.ok()) {
        return line_error(lines.number(), st.error().message);
      }
      if (is_comment(raw) || trim_left(part).empty()) continue;
      std::string piece(part);
      continues = strip_continuation(piece, escape);
      line += piece;
    }
    if (trim(line).empty()) continue;  // only escapes and blanks: nothing to parse
    auto instruction = parse_instruction(line, start);
    if (!instruction.ok()) return instruction.error();
    if (may_have_heredocs(*instruction)) {
      auto heredocs = find_heredocs(line);
      if (!heredocs.ok()) return line_error(start, heredocs.error().message);
      instruction->heredocs = std::move(*heredocs);
      MATCHLOCK_TRY(read_heredoc_bodies(lines, start, instruction->heredocs));
    }
    dockerfile.instructions.push_back(std::move(*instruction));
  }
  if (dockerfile.instructions.empty()) return invalid_argument("file with no instructions");
  dockerfile.escape = directives.escape();
  dockerfile.syntax = directives.syntax();
  return dockerfile;
}

}  // namespace matchlock::dockerbuild
