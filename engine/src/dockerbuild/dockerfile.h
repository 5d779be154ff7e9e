// A parsed Dockerfile: its instructions as written, before any variable is expanded. Parsing is
// dockerfile_parser.cpp; what each instruction means is build_steps.cpp.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace matchlock::dockerbuild {

// A here-document of a RUN (or COPY) instruction: `<<EOF`, `<<-EOF` (tabs stripped), `<<"EOF"`
// (no expansion).
struct Heredoc {
  std::string name;  // the delimiter word ("EOF")
  std::string body;  // the lines between the instruction and the delimiter, each with its line
                     // end as written ("\r\n" too, as Docker keeps it); for `<<-` with leading
                     // tabs already removed
  bool expand = true;
  bool strip_tabs = false;
};

struct Instruction {
  int line = 0;         // 1-based line of the keyword, for error messages ("Dockerfile:7: ...")
  std::string keyword;  // upper case: "FROM", "RUN", ... (unknown keywords are a parse error)
  std::vector<std::pair<std::string, std::string>> flags;  // --name=value in order; "" for --flag
  bool json_form = false;                                  // exec form: ["a", "b"]
  std::vector<std::string> args;                           // exec form: the array's strings
  std::string rest;  // the text after the flags, continuation lines joined, unexpanded (also set
                     // for the exec form, as written)
  std::vector<Heredoc> heredocs;  // RUN, COPY, ADD in shell form (and ONBUILD of those)
  std::string original;  // the instruction's text as written (continuations joined), for messages
};

struct Dockerfile {
  char escape = '\\';  // `# escape=` directive
  std::string syntax;  // `# syntax=` directive (recorded; matchlock's own frontend always runs)
  std::vector<Instruction> instructions;
};

// Errors name the line: "line 7: unknown instruction: FORM".
Result<Dockerfile> parse_dockerfile(std::string_view text);

// The exec form as Docker detects it: text starting with '[' that decodes as a JSON array of
// strings (anything after the array is ignored, as Docker's decoder does). nullopt = not JSON, so
// the shell form; an error for an array holding anything but strings. The parser applies it to
// RUN CMD ENTRYPOINT SHELL COPY ADD VOLUME; HEALTHCHECK's CMD part is for its evaluator.
Result<std::optional<std::vector<std::string>>> parse_json_string_array(std::string_view text);

}  // namespace matchlock::dockerbuild
