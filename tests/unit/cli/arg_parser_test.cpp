#include "cli/arg_parser.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using matchlock::cli::ArgParser;
using matchlock::cli::ParsedArgs;

namespace {

ArgParser run_parser() {
  ArgParser p("matchlock run [flags] [--] COMMAND [ARG...]", "Run a command in a new sandbox.");
  p.add_value("image", '\0', "ref", "Image to boot")
      .add_value("cpus", '\0', "n", "Number of CPUs", "1")
      .add_value("workdir", 'w', "dir", "Working directory in the sandbox")
      .add_value("entrypoint", '\0', "cmd", "Override the image ENTRYPOINT")
      .add_repeated("env", 'e', "KEY=V", "Set an environment variable")
      .add_bool("rm", '\0', "Remove the sandbox when the command exits", true)
      .add_bool("interactive", 'i', "Keep stdin open")
      .add_bool("tty", 't', "Allocate a pseudo-TTY")
      .add_bool("detach", 'd', "Run in the background");
  return p;
}

ParsedArgs parse_ok(const std::vector<std::string>& args, bool stop = true) {
  auto r = run_parser().parse(args, stop);
  INFO((r.ok() ? std::string() : r.error().message));
  REQUIRE(r.ok());
  return std::move(r).value();
}

std::string parse_error(const std::vector<std::string>& args) {
  auto r = run_parser().parse(args);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == matchlock::ErrorCode::kInvalidArgument);
  return r.error().message;
}

using Words = std::vector<std::string>;

}  // namespace

TEST_CASE("long value flag takes the next word", "[cli][args]") {
  auto a = parse_ok({"--image", "alpine", "echo"});
  CHECK(a.value("image") == "alpine");
  CHECK(a.positionals == Words{"echo"});
}

TEST_CASE("long value flag accepts --name=value", "[cli][args]") {
  auto a = parse_ok({"--cpus=0.5"});
  CHECK(a.value("cpus") == "0.5");
  CHECK(a.is_set("cpus"));
}

TEST_CASE("--name=value keeps further '=' in the value", "[cli][args]") {
  auto a = parse_ok({"--env=A=b=c"});
  CHECK(a.value("env") == "A=b=c");
}

TEST_CASE("--entrypoint= with nothing after is an explicit empty value", "[cli][args]") {
  auto a = parse_ok({"--entrypoint="});
  CHECK(a.is_set("entrypoint"));
  CHECK(a.value("entrypoint") == "");
}

TEST_CASE("--entrypoint followed by an empty word is an explicit empty value", "[cli][args]") {
  auto a = parse_ok({"--entrypoint", "", "sh"});
  CHECK(a.is_set("entrypoint"));
  CHECK(a.value("entrypoint") == "");
  CHECK(a.positionals == Words{"sh"});
}

TEST_CASE("value flag not given is unset and has no value", "[cli][args]") {
  auto a = parse_ok({});
  CHECK_FALSE(a.is_set("cpus"));
  CHECK_FALSE(a.value("cpus").has_value());
  CHECK(a.values("env").empty());
}

TEST_CASE("a value flag consumes the next word even if it starts with a dash", "[cli][args]") {
  auto a = parse_ok({"--cpus", "-1"});
  CHECK(a.value("cpus") == "-1");
}

TEST_CASE("short value flag takes the next word", "[cli][args]") {
  auto a = parse_ok({"-w", "/tmp"});
  CHECK(a.value("workdir") == "/tmp");
}

TEST_CASE("short value flag takes an attached value", "[cli][args]") {
  CHECK(parse_ok({"-w/tmp"}).value("workdir") == "/tmp");
  CHECK(parse_ok({"-w=/tmp"}).value("workdir") == "/tmp");
}

TEST_CASE("a value flag ends a shorthand cluster and takes the rest", "[cli][args]") {
  auto a = parse_ok({"-ieFOO=1"});
  CHECK(a.flag("interactive"));
  CHECK(a.value("env") == "FOO=1");
}

TEST_CASE("a value shorthand at the end of a cluster takes the next word", "[cli][args]") {
  auto a = parse_ok({"-ie", "FOO=1"});
  CHECK(a.flag("interactive"));
  CHECK(a.value("env") == "FOO=1");
}

TEST_CASE("repeated flags keep every occurrence in order", "[cli][args]") {
  auto a = parse_ok({"-e", "A=1", "--env", "B=2", "--env=C=3", "-eD=4"});
  CHECK(a.values("env") == Words{"A=1", "B=2", "C=3", "D=4"});
  CHECK(a.value("env") == "D=4");
}

TEST_CASE("a value flag given twice keeps the last", "[cli][args]") {
  auto a = parse_ok({"--cpus", "1", "--cpus", "2"});
  CHECK(a.value("cpus") == "2");
}

TEST_CASE("bool flag alone is true", "[cli][args]") {
  auto a = parse_ok({"--detach"});
  CHECK(a.flag("detach"));
  CHECK(a.is_set("detach"));
}

TEST_CASE("bool flag default applies when not given", "[cli][args]") {
  auto a = parse_ok({});
  CHECK(a.flag("rm"));
  CHECK_FALSE(a.is_set("rm"));
  CHECK_FALSE(a.flag("detach"));
  CHECK_FALSE(a.flag("no-such-flag"));
}

TEST_CASE("bool flag accepts =true, =false, =1 and =0", "[cli][args]") {
  CHECK_FALSE(parse_ok({"--rm=false"}).flag("rm"));
  CHECK(parse_ok({"--rm=true"}).flag("rm"));
  CHECK_FALSE(parse_ok({"--rm=0"}).flag("rm"));
  CHECK(parse_ok({"--rm=1"}).flag("rm"));
  CHECK(parse_ok({"--rm=false"}).is_set("rm"));
}

TEST_CASE("bool flag does not consume the next word", "[cli][args]") {
  auto a = parse_ok({"--rm", "false"});
  CHECK(a.flag("rm"));
  CHECK(a.positionals == Words{"false"});
}

TEST_CASE("later bool occurrence wins", "[cli][args]") {
  CHECK(parse_ok({"--rm=false", "--rm"}).flag("rm"));
}

TEST_CASE("combined short bools -it set both flags", "[cli][args]") {
  auto a = parse_ok({"-it"});
  CHECK(a.flag("interactive"));
  CHECK(a.flag("tty"));
}

TEST_CASE("separate short bools -i -t set both flags", "[cli][args]") {
  auto a = parse_ok({"-i", "-t", "sh"});
  CHECK(a.flag("interactive"));
  CHECK(a.flag("tty"));
  CHECK(a.positionals == Words{"sh"});
}

TEST_CASE("short bool accepts =false", "[cli][args]") {
  auto a = parse_ok({"-d=false"});
  CHECK(a.is_set("detach"));
  CHECK_FALSE(a.flag("detach"));
}

TEST_CASE("parsing stops at the first positional so the command keeps its flags", "[cli][args]") {
  auto a = parse_ok({"--image", "x", "echo", "-n", "hi", "--rm=false"});
  CHECK(a.positionals == Words{"echo", "-n", "hi", "--rm=false"});
  CHECK(a.flag("rm"));
  CHECK_FALSE(a.saw_double_dash);
}

TEST_CASE("double dash ends flags and is not a positional", "[cli][args]") {
  auto a = parse_ok({"--image", "x", "--", "--rm", "-it"});
  CHECK(a.saw_double_dash);
  CHECK(a.positionals == Words{"--rm", "-it"});
  CHECK(a.flag("rm"));
  CHECK_FALSE(a.is_set("rm"));
}

TEST_CASE("without stop_at_first_positional flags after positionals are parsed", "[cli][args]") {
  auto a = parse_ok({"vm-1", "-d", "vm-2", "--", "-x"}, false);
  CHECK(a.flag("detach"));
  CHECK(a.positionals == Words{"vm-1", "vm-2", "-x"});
  CHECK(a.saw_double_dash);
}

TEST_CASE("a lone dash is a positional", "[cli][args]") {
  auto a = parse_ok({"-"});
  CHECK(a.positionals == Words{"-"});
}

TEST_CASE("-h and --help set help", "[cli][args]") {
  CHECK(parse_ok({"-h"}).help);
  CHECK(parse_ok({"--help"}).help);
  CHECK(parse_ok({"-ih"}).help);
  CHECK_FALSE(parse_ok({}).help);
  CHECK_FALSE(parse_ok({"--help=false"}).help);
}

TEST_CASE("help after the first positional belongs to the command", "[cli][args]") {
  auto a = parse_ok({"ls", "--help"});
  CHECK_FALSE(a.help);
}

TEST_CASE("unknown long flag is an error naming it", "[cli][args]") {
  CHECK(parse_error({"--foo"}) == "unknown flag: --foo");
  CHECK(parse_error({"--foo=1"}) == "unknown flag: --foo");
}

TEST_CASE("unknown shorthand is an error naming it and its word", "[cli][args]") {
  CHECK(parse_error({"-x"}) == "unknown shorthand flag: 'x' in -x");
  CHECK(parse_error({"-ix"}) == "unknown shorthand flag: 'x' in -ix");
}

TEST_CASE("value flag at the end needs a value", "[cli][args]") {
  CHECK(parse_error({"--cpus"}) == "flag --cpus needs a value");
  CHECK(parse_error({"-w"}) == "flag --workdir needs a value");
  CHECK(parse_error({"-ie"}) == "flag --env needs a value");
}

TEST_CASE("bool flag with a bad value is an error", "[cli][args]") {
  CHECK(parse_error({"--rm=maybe"}) == "invalid value \"maybe\" for --rm: expected true or false");
  CHECK(parse_error({"--rm="}) == "invalid value \"\" for --rm: expected true or false");
  CHECK(parse_error({"-d=yes"}) == "invalid value \"yes\" for --detach: expected true or false");
  CHECK(parse_error({"--help=maybe"}) ==
        "invalid value \"maybe\" for --help: expected true or false");
}

TEST_CASE("help text lists usage, summary and aligned flags with defaults", "[cli][args]") {
  const std::string text = run_parser().help_text();
  CHECK_THAT(text, Catch::StartsWith("Usage: matchlock run [flags] [--] COMMAND [ARG...]\n"));
  CHECK_THAT(text, Catch::Contains("Run a command in a new sandbox."));
  CHECK_THAT(text, Catch::Contains("  -w, --workdir dir"));
  CHECK_THAT(text, Catch::Contains("      --cpus n"));
  CHECK_THAT(text, Catch::Contains("Number of CPUs (default 1)"));
  CHECK_THAT(text, Catch::Contains("Remove the sandbox when the command exits (default true)"));
  CHECK_THAT(text, Catch::Contains("Set an environment variable (repeatable)"));
  CHECK_THAT(text, Catch::Contains("  -h, --help"));
  CHECK_THAT(text, !Catch::Contains("Keep stdin open (default"));

  // Every help column starts at the same offset.
  size_t column = std::string::npos;
  size_t pos = text.find("Flags:\n");
  REQUIRE(pos != std::string::npos);
  pos += 7;
  while (pos < text.size()) {
    const size_t end = text.find('\n', pos);
    const std::string line = text.substr(pos, end - pos);
    const size_t flag_end = line.find("   ", line.find("--"));  // padding after the flag
    REQUIRE(flag_end != std::string::npos);
    const size_t start = line.find_first_not_of(' ', flag_end);
    if (column == std::string::npos) column = start;
    CHECK(start == column);
    pos = end + 1;
  }
}
