#include "cli/exec_options.h"

#include <catch2/catch.hpp>

#include "cli/shell_words.h"

using namespace matchlock::cli;

namespace {
matchlock::Result<ExecOptions> parse(std::vector<std::string> words, bool tty = false) {
  static std::vector<std::string> keep;
  keep = std::move(words);
  return parse_exec_options(Args(keep.data(), keep.size()), tty);
}
}  // namespace

TEST_CASE("exec_flags_after_the_id_and_the_command_keeps_its_own_flags", "[cli][exec]") {
  auto o = parse({"vm-1", "-i", "-e", "A=1", "-e", "A=2", "-w", "/tmp", "-u", "1000", "ls", "-l"});
  REQUIRE(o.ok());
  CHECK(o->id == "vm-1");
  CHECK(o->interactive);
  CHECK_FALSE(o->tty);
  CHECK(o->env == std::vector<std::pair<std::string, std::string>>{{"A", "2"}});
  CHECK(o->workdir == "/tmp");
  CHECK(o->user == "1000");
  CHECK(o->command == std::vector<std::string>{"ls", "-l"});
}

TEST_CASE("exec_flags_before_the_id_and_double_dash", "[cli][exec]") {
  auto o = parse({"-it", "vm-2", "--", "sh", "-c", "x"}, true);
  REQUIRE(o.ok());
  CHECK(o->id == "vm-2");
  CHECK((o->interactive && o->tty));
  CHECK(o->command == std::vector<std::string>{"sh", "-c", "x"});
}

TEST_CASE("exec_usage_errors", "[cli][exec]") {
  CHECK_FALSE(parse({}).ok());
  CHECK_FALSE(parse({"vm-1"}).ok());                      // no command
  CHECK_FALSE(parse({"-it", "vm-1", "sh"}, false).ok());  // -it without a terminal
  CHECK_FALSE(parse({"vm-1", "-w", "rel", "ls"}).ok());
  CHECK_FALSE(parse({"vm-1", "--bogus", "ls"}).ok());
}

TEST_CASE("shell_join_quotes_every_word_exactly", "[cli][exec]") {
  CHECK(shell_join({"echo", "a b"}) == "'echo' 'a b'");
  CHECK(shell_join({"it's"}) == "'it'\\''s'");
  CHECK(shell_join({"$HOME", ""}) == "'$HOME' ''");
}
