// Dockerfile values built by hand for the plan and step tests (independent of the parser).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "dockerbuild/dockerfile.h"

namespace matchlock::dockerbuild::testing {

using Flags = std::vector<std::pair<std::string, std::string>>;

// A shell-form instruction: `KEYWORD [--flags] rest`.
inline Instruction shell_form(int line, std::string keyword, std::string rest, Flags flags = {}) {
  Instruction i;
  i.line = line;
  i.keyword = std::move(keyword);
  i.rest = std::move(rest);
  i.flags = std::move(flags);
  i.original = i.keyword + " " + i.rest;
  return i;
}

// An exec-form instruction: `KEYWORD [--flags] ["a", "b"]`.
inline Instruction json_form(int line, std::string keyword, std::vector<std::string> args,
                             Flags flags = {}) {
  Instruction i;
  i.line = line;
  i.keyword = std::move(keyword);
  i.json_form = true;
  i.args = std::move(args);
  i.flags = std::move(flags);
  return i;
}

inline Dockerfile dockerfile(std::vector<Instruction> instructions) {
  Dockerfile df;
  df.instructions = std::move(instructions);
  return df;
}

}  // namespace matchlock::dockerbuild::testing
