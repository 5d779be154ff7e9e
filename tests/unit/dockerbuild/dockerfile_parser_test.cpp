#include <catch2/catch.hpp>

#include "dockerbuild/dockerfile.h"

using namespace matchlock::dockerbuild;

namespace {

using Strings = std::vector<std::string>;
using Flags = std::vector<std::pair<std::string, std::string>>;

Dockerfile parse(std::string_view text) {
  auto r = parse_dockerfile(text);
  INFO(text);
  if (!r.ok()) FAIL(r.error().message);
  return std::move(r).value();
}

std::string parse_error(std::string_view text) {
  auto r = parse_dockerfile(text);
  INFO(text);
  REQUIRE_FALSE(r.ok());
  return r.error().message;
}

}  // namespace

TEST_CASE("parser_reads_keywords_case_insensitively_with_their_lines", "[build][parser]") {
  auto df = parse("FROM alpine:3.19 AS build\n\nrun echo hi\n  Workdir /src\n");
  REQUIRE(df.instructions.size() == 3);
  CHECK(df.instructions[0].keyword == "FROM");
  CHECK(df.instructions[0].rest == "alpine:3.19 AS build");
  CHECK(df.instructions[0].line == 1);
  CHECK(df.instructions[1].keyword == "RUN");
  CHECK(df.instructions[1].rest == "echo hi");
  CHECK(df.instructions[1].line == 3);
  CHECK_FALSE(df.instructions[1].json_form);
  CHECK(df.instructions[2].keyword == "WORKDIR");
  CHECK(df.instructions[2].line == 4);
  CHECK(df.escape == '\\');
}

TEST_CASE("parser_knows_every_dockerfile_instruction", "[build][parser]") {
  auto df = parse(
      "FROM a\nRUN b\nCMD c\nLABEL d=e\nMAINTAINER f\nEXPOSE 80\nENV g=h\nADD i j\nCOPY k l\n"
      "ENTRYPOINT m\nVOLUME /n\nUSER o\nWORKDIR /p\nARG q\nONBUILD RUN r\nSTOPSIGNAL SIGTERM\n"
      "HEALTHCHECK CMD s\nSHELL [\"/bin/bash\", \"-c\"]\n");
  CHECK(df.instructions.size() == 18);
}

TEST_CASE("unknown_instruction_is_an_error_naming_its_line", "[build][parser]") {
  CHECK(parse_error("FROM a\n\nFORM b\n") == "line 3: unknown instruction: FORM");
  CHECK(parse_error("FROM a\nrun-it x\n") == "line 2: unknown instruction: run-it");
}

TEST_CASE("empty_or_comment_only_file_has_no_instructions", "[build][parser]") {
  CHECK_THAT(parse_error(""), Catch::Contains("no instructions"));
  CHECK_THAT(parse_error("# just a comment\n\n   \n"), Catch::Contains("no instructions"));
  CHECK_THAT(parse_error("\\\n"), Catch::Contains("no instructions"));
}

TEST_CASE("continuation_lines_are_joined_without_the_escape", "[build][parser]") {
  auto df = parse("FROM a\nRUN apt-get update && \\\n    apt-get install -y \\\n  curl\nUSER x\n");
  REQUIRE(df.instructions.size() == 3);
  const auto& run = df.instructions[1];
  CHECK(run.rest == "apt-get update &&     apt-get install -y   curl");
  CHECK(run.original == "RUN apt-get update &&     apt-get install -y   curl");
  CHECK(run.line == 2);
  CHECK(df.instructions[2].line == 5);
}

TEST_CASE("continuation_skips_comment_and_blank_lines_inside", "[build][parser]") {
  auto df = parse(
      "FROM a\nRUN echo one \\\n# a comment inside\n   # indented comment\n\n  \\\n  && echo two\n"
      "CMD x\n");
  REQUIRE(df.instructions.size() == 3);
  CHECK(df.instructions[1].rest == "echo one     && echo two");
  CHECK(df.instructions[2].line == 8);
}

TEST_CASE("continuation_allows_blanks_after_the_escape_but_not_an_escaped_escape",
          "[build][parser]") {
  auto df = parse("FROM a\nRUN echo a \\  \t\nb\nRUN echo c \\\\\nRUN d\n");
  REQUIRE(df.instructions.size() == 4);
  CHECK(df.instructions[1].rest == "echo a b");
  CHECK(df.instructions[2].rest == "echo c \\\\");
  CHECK(df.instructions[3].rest == "d");
}

TEST_CASE("continuation_at_end_of_file_ends_the_instruction", "[build][parser]") {
  auto df = parse("FROM a\nRUN echo \\");
  REQUIRE(df.instructions.size() == 2);
  CHECK(df.instructions[1].rest == "echo");
}

TEST_CASE("comments_only_start_a_line_and_stay_in_shell_text", "[build][parser]") {
  auto df = parse("# top\nFROM a\n  # indented\nRUN echo hi # not a comment\n");
  REQUIRE(df.instructions.size() == 2);
  CHECK(df.instructions[1].rest == "echo hi # not a comment");
}

TEST_CASE("directives_set_escape_and_syntax_only_at_the_top", "[build][parser]") {
  auto df = parse("# syntax=docker/dockerfile:1\n# ESCAPE = `\nFROM a\nRUN echo a `\n  b\n");
  CHECK(df.syntax == "docker/dockerfile:1");
  CHECK(df.escape == '`');
  REQUIRE(df.instructions.size() == 2);
  CHECK(df.instructions[1].rest == "echo a   b");

  auto late = parse("FROM a\n# escape=`\nRUN echo \\\n b\n");
  CHECK(late.escape == '\\');
  CHECK(late.instructions[1].rest == "echo  b");

  auto after_comment = parse("# hello\n# escape=`\nFROM a\n");
  CHECK(after_comment.escape == '\\');
  auto after_blank = parse("\n# escape=`\nFROM a\n");
  CHECK(after_blank.escape == '\\');
  auto after_unknown = parse("# foo=bar\n# escape=`\nFROM a\n");
  CHECK(after_unknown.escape == '\\');
}

TEST_CASE("directive_errors_name_their_line", "[build][parser]") {
  CHECK_THAT(parse_error("# escape=x\nFROM a\n"),
             Catch::StartsWith("line 1:") && Catch::Contains("invalid escape token 'x'"));
  CHECK_THAT(parse_error("# escape=`\n# escape=\\\nFROM a\n"),
             Catch::StartsWith("line 2:") && Catch::Contains("only one escape parser directive"));
}

TEST_CASE("backslash_is_plain_text_with_escape_backtick", "[build][parser]") {
  auto df = parse("# escape=`\nFROM mcr/windows\nRUN dir C:\\\nWORKDIR C:\\src\n");
  REQUIRE(df.instructions.size() == 3);
  CHECK(df.instructions[1].rest == "dir C:\\");
  CHECK(df.instructions[2].rest == "C:\\src");
}

TEST_CASE("json_form_gives_the_array_and_keeps_the_text", "[build][parser]") {
  auto df = parse(
      "FROM a\nCMD [\"nginx\", \"-g\", \"daemon off;\"]\nENTRYPOINT [ ]\n"
      "RUN [\"sh\", \"-c\", \"echo \\\"q\\\" \\u00e9\"]\nVOLUME [\"/data\", \"/logs\"]\n");
  const auto& cmd = df.instructions[1];
  CHECK(cmd.json_form);
  CHECK(cmd.args == Strings{"nginx", "-g", "daemon off;"});
  CHECK(cmd.rest == "[\"nginx\", \"-g\", \"daemon off;\"]");
  CHECK(df.instructions[2].json_form);
  CHECK(df.instructions[2].args.empty());
  CHECK(df.instructions[3].args == Strings{"sh", "-c", "echo \"q\" \xC3\xA9"});
  CHECK(df.instructions[4].args == Strings{"/data", "/logs"});
}

TEST_CASE("invalid_json_falls_back_to_the_shell_form", "[build][parser]") {
  auto df = parse("FROM a\nCMD [\"unterminated\nRUN [ -f x ] && echo y\nCMD ['single']\n");
  for (size_t i = 1; i < df.instructions.size(); ++i) {
    CHECK_FALSE(df.instructions[i].json_form);
    CHECK(df.instructions[i].args.empty());
  }
  CHECK(df.instructions[2].rest == "[ -f x ] && echo y");
  CHECK(df.instructions[3].rest == "['single']");
}

TEST_CASE("json_array_of_non_strings_is_an_error", "[build][parser]") {
  CHECK_THAT(parse_error("FROM a\nCMD [\"a\", 1]\n"),
             Catch::StartsWith("line 2:") && Catch::Contains("strings only"));
}

TEST_CASE("json_form_only_for_the_instructions_that_have_one", "[build][parser]") {
  auto df = parse("FROM a\nLABEL [\"x\"]\nWORKDIR [\"/x\"]\n");
  CHECK_FALSE(df.instructions[1].json_form);
  CHECK_FALSE(df.instructions[2].json_form);
  CHECK(df.instructions[2].rest == "[\"/x\"]");
}

TEST_CASE("text_after_the_json_array_is_ignored_as_docker_does", "[build][parser]") {
  auto r = parse_json_string_array("  [\"a\"] trailing");
  REQUIRE(r.ok());
  REQUIRE(r->has_value());
  CHECK(**r == Strings{"a"});
  auto not_json = parse_json_string_array("CMD [\"a\"]");
  REQUIRE(not_json.ok());
  CHECK_FALSE(not_json->has_value());
}

TEST_CASE("shell_requires_the_json_form", "[build][parser]") {
  CHECK(parse_error("FROM a\nSHELL /bin/bash -c\n") ==
        "line 2: SHELL requires the arguments to be in JSON form");
}

TEST_CASE("flags_are_read_before_the_arguments", "[build][parser]") {
  auto df = parse(
      "FROM --platform=linux/amd64 alpine AS x\n"
      "COPY --from=x --chown=\"app user\":app --link src/ /dst/\n"
      "RUN --mount=type=cache,target=/root/.cache --network=none [\"make\"]\n"
      "HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://localhost/\n"
      "ADD -- --weird-name /dst\n");
  CHECK(df.instructions[0].flags == Flags{{"platform", "linux/amd64"}});
  CHECK(df.instructions[0].rest == "alpine AS x");
  CHECK(df.instructions[1].flags == Flags{{"from", "x"}, {"chown", "app user:app"}, {"link", ""}});
  CHECK(df.instructions[1].rest == "src/ /dst/");
  const auto& run = df.instructions[2];
  CHECK(run.flags == Flags{{"mount", "type=cache,target=/root/.cache"}, {"network", "none"}});
  CHECK(run.json_form);
  CHECK(run.args == Strings{"make"});
  CHECK(df.instructions[3].flags == Flags{{"interval", "5s"}, {"retries", "3"}});
  CHECK(df.instructions[3].rest == "CMD curl -f http://localhost/");
  CHECK(df.instructions[4].flags.empty());
  CHECK(df.instructions[4].rest == "--weird-name /dst");
}

TEST_CASE("flags_are_text_for_instructions_without_flags", "[build][parser]") {
  auto df = parse("FROM a\nENV --x=1\nCMD --help\nRUN echo --not-a-flag\n");
  CHECK(df.instructions[1].flags.empty());
  CHECK(df.instructions[1].rest == "--x=1");
  CHECK(df.instructions[2].rest == "--help");
  CHECK(df.instructions[3].flags.empty());
  CHECK(df.instructions[3].rest == "echo --not-a-flag");
}

TEST_CASE("heredoc_body_runs_to_its_delimiter", "[build][parser]") {
  auto df = parse("FROM a\nRUN <<EOF\necho one\n  echo two\nEOF\nCMD x\n");
  REQUIRE(df.instructions.size() == 3);
  const auto& run = df.instructions[1];
  CHECK(run.rest == "<<EOF");
  REQUIRE(run.heredocs.size() == 1);
  CHECK(run.heredocs[0].name == "EOF");
  CHECK(run.heredocs[0].body == "echo one\n  echo two\n");
  CHECK(run.heredocs[0].expand);
  CHECK_FALSE(run.heredocs[0].strip_tabs);
  CHECK(df.instructions[2].line == 6);
}

TEST_CASE("heredoc_body_keeps_comments_and_blank_lines", "[build][parser]") {
  auto df = parse("FROM a\nRUN <<EOF\n# not a comment\n\nFROM inside \\\nEOF\n");
  REQUIRE(df.instructions.size() == 2);
  CHECK(df.instructions[1].heredocs[0].body == "# not a comment\n\nFROM inside \\\n");
}

TEST_CASE("heredoc_dash_strips_leading_tabs_and_quotes_stop_expansion", "[build][parser]") {
  auto df = parse(
      "FROM a\nRUN <<-EOT\n\t\techo $HOME\n\tEOT\nCOPY <<\"CONF\" /etc/app.conf\nv=$X\nCONF\n"
      "RUN <<'X' sh\nq\nX\n");
  const auto& dash = df.instructions[1].heredocs.at(0);
  CHECK(dash.strip_tabs);
  CHECK(dash.body == "echo $HOME\n");
  const auto& conf = df.instructions[2].heredocs.at(0);
  CHECK(conf.name == "CONF");
  CHECK_FALSE(conf.expand);
  CHECK(conf.body == "v=$X\n");
  CHECK(df.instructions[2].rest == "<<\"CONF\" /etc/app.conf");
  const auto& single = df.instructions[3].heredocs.at(0);
  CHECK(single.name == "X");
  CHECK_FALSE(single.expand);
}

TEST_CASE("two_heredocs_on_one_line_take_their_bodies_in_order", "[build][parser]") {
  auto df = parse("FROM a\nCOPY <<A <<B /dst/\nfile a\nA\nfile b\nB\nUSER u\n");
  REQUIRE(df.instructions.size() == 3);
  const auto& copy = df.instructions[1];
  REQUIRE(copy.heredocs.size() == 2);
  CHECK(copy.heredocs[0].name == "A");
  CHECK(copy.heredocs[0].body == "file a\n");
  CHECK(copy.heredocs[1].name == "B");
  CHECK(copy.heredocs[1].body == "file b\n");
  CHECK(df.instructions[2].line == 7);
}

TEST_CASE("heredoc_with_a_command_and_redirections", "[build][parser]") {
  auto df = parse("FROM a\nRUN python3 <<EOF > /out\nprint(1)\nEOF\n");
  const auto& run = df.instructions[1];
  CHECK(run.rest == "python3 <<EOF > /out");
  REQUIRE(run.heredocs.size() == 1);
  CHECK(run.heredocs[0].body == "print(1)\n");
}

TEST_CASE("heredoc_needs_its_terminator", "[build][parser]") {
  CHECK_THAT(parse_error("FROM a\nRUN <<EOF\necho never ends\n"),
             Catch::StartsWith("line 2:") && Catch::Contains("unterminated heredoc"));
  // The delimiter line must match exactly (after tab stripping for <<-).
  CHECK_THAT(parse_error("FROM a\nRUN <<EOF\n  EOF\n"), Catch::Contains("unterminated heredoc"));
}

TEST_CASE("heredoc_markers_are_ignored_where_docker_ignores_them", "[build][parser]") {
  auto df =
      parse("FROM a\nRUN [\"cat\", \"<<EOF\"]\nCMD cat <<EOF\nRUN echo \"<<EOF\"\nRUN echo a<<b\n");
  CHECK(df.instructions.size() == 5);
  for (const auto& ins : df.instructions) CHECK(ins.heredocs.empty());
}

TEST_CASE("onbuild_trigger_may_carry_a_heredoc", "[build][parser]") {
  auto df = parse("FROM a\nONBUILD RUN <<EOF\necho later\nEOF\n");
  REQUIRE(df.instructions.size() == 2);
  CHECK(df.instructions[1].rest == "RUN <<EOF");
  REQUIRE(df.instructions[1].heredocs.size() == 1);
  CHECK(df.instructions[1].heredocs[0].body == "echo later\n");
}

TEST_CASE("crlf_line_ends_are_accepted", "[build][parser]") {
  auto df = parse("# escape=`\r\nFROM a\r\nRUN echo a `\r\n  b\r\nCMD [\"x\"]\r\n");
  CHECK(df.escape == '`');
  REQUIRE(df.instructions.size() == 3);
  CHECK(df.instructions[1].rest == "echo a   b");
  CHECK(df.instructions[2].json_form);
  CHECK(df.instructions[2].args == Strings{"x"});
  auto heredoc = parse("FROM a\r\nRUN <<EOF\r\necho hi\r\nEOF\r\n");
  REQUIRE(heredoc.instructions[1].heredocs.size() == 1);
  CHECK(heredoc.instructions[1].heredocs[0].body == "echo hi\r\n");  // kept as Docker keeps it
}

TEST_CASE("byte_order_mark_is_skipped", "[build][parser]") {
  auto df = parse("\xEF\xBB\xBF# escape=`\nFROM a\n");
  CHECK(df.escape == '`');
  CHECK(df.instructions[0].keyword == "FROM");
  CHECK(df.instructions[0].line == 2);
  CHECK(parse("\xEF\xBB\xBF"
              "FROM a")
            .instructions[0]
            .keyword == "FROM");
}

TEST_CASE("original_keeps_the_instruction_as_written", "[build][parser]") {
  auto df = parse("FROM a\n  env  A=1 \\\n  B=2   \n");
  CHECK(df.instructions[1].original == "env  A=1   B=2");
  CHECK(df.instructions[1].keyword == "ENV");
  CHECK(df.instructions[1].rest == "A=1   B=2");
}
