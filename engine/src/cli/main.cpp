// matchlock: the CLI entry point. Dispatches on the first word to a subcommand.
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/commands.h"

namespace matchlock::cli {

int fail(const std::string& message, int exit_code) {
  std::fprintf(stderr, "matchlock: %s\n", message.c_str());
  return exit_code;
}

namespace {

struct Command {
  const char* name;
  int (*fn)(Args);
  const char* summary;
};

const Command kCommands[] = {
    {"run", cmd_run, "Boot a sandbox from an image and run a command in it"},
    {"rpc", cmd_rpc, "Serve JSON-RPC 2.0 on stdin/stdout (used by the SDKs)"},
    {"exec", cmd_exec, "Run a command in a running sandbox"},
    {"kill", cmd_kill, "Stop running sandboxes"},
    {"log", cmd_log, "Print a sandbox's console and engine logs"},
    {"allow-list", cmd_allow_list, "Change a running sandbox's network allow-list"},
    {"pull", cmd_pull, "Pull an image from a registry"},
    {"image", cmd_image, "Manage local images (import, ls, rm)"},
    {"version", cmd_version, "Print the version"},
};

void print_help() {
  std::printf(
      "matchlock runs commands inside disposable microVMs.\n\n"
      "Usage: matchlock COMMAND [ARGS...]\n\nCommands:\n");
  for (const auto& c : kCommands) std::printf("  %-10s %s\n", c.name, c.summary);
  std::printf("\nRun 'matchlock COMMAND --help' for a command's flags.\n");
}

}  // namespace

int cmd_version(Args args) {
  for (const auto& a : args) {
    if (a == "-h" || a == "--help") {
      std::printf("Usage: matchlock version\n\nPrint the version of matchlock.\n");
      return 0;
    }
    return fail("version: unexpected argument \"" + a + "\"");
  }
  std::printf("matchlock %s\n", MATCHLOCK_VERSION);
  return 0;
}

}  // namespace matchlock::cli

int main(int argc, char** argv) {
  // A closed stdout must show up as a write error, not kill the owner before it stops QEMU.
  ::signal(SIGPIPE, SIG_IGN);
  using namespace matchlock::cli;
  std::vector<std::string> words(argv + 1, argv + argc);
  if (words.empty() || words[0] == "-h" || words[0] == "--help" || words[0] == "help") {
    print_help();
    return words.empty() ? 2 : 0;
  }
  if (words[0] == "--version" || words[0] == "-v") return cmd_version({});
  for (const auto& c : kCommands) {
    if (words[0] == c.name) {
      return c.fn(Args(words.data() + 1, words.size() - 1));
    }
  }
  return fail("unknown command \"" + words[0] + "\" (see 'matchlock --help')");
}
