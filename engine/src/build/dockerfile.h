// A parsed Dockerfile: its instructions as written, before any variable is expanded. Parsing is
// dockerfile_parser.cpp; what each instruction means is build_steps.cpp.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace matchlock::build {

// A here-document of a RUN (or COPY) instruction: `<<EOF`, `<<-EOF` (tabs stripped), `<<"EOF"`
// (no expansion).
struct Heredoc {
  std::string name;  // the delimiter word ("EOF")
  std::string body;  // the lines between the instruction and the delimiter, each with its '\n'
  bool expand = true;
  bool strip_tabs = false;
};

struct Instruction {
  int line = 0;         // 1-based line of the keyword, for error messages ("Dockerfile:7: ...")
  std::string keyword;  // upper case: "FROM", "RUN", ... (unknown keywords are a parse error)
  std::vector<std::pair<std::string, std::string>> flags;  // --name=value in order; "" for --flag
  bool json_form = false;                                  // exec form: ["a", "b"]
  std::vector<std::string> args;                           // exec form: the array's strings
  std::string rest;  // shell form: the text after the flags, continuation lines joined, unexpanded
  std::vector<Heredoc> heredocs;
  std::string original;  // the instruction's text as written (continuations joined), for messages
};

struct Dockerfile {
  char escape = '\\';  // `# escape=` directive
  std::string syntax;  // `# syntax=` directive (recorded; matchlock's own frontend always runs)
  std::vector<Instruction> instructions;
};

// Errors name the line: "line 7: unknown instruction: FORM".
Result<Dockerfile> parse_dockerfile(std::string_view text);

}  // namespace matchlock::build
