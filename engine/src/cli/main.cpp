// matchlock: the CLI entry point. Dispatches on the first word to a subcommand.
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/core_dumps.h"
#include "core/printable.h"

namespace matchlock::cli {

int fail(const std::string& message, int exit_code) {
  std::fprintf(stderr, "matchlock: %s\n", printable(message).c_str());
  return exit_code;
}

namespace {

struct Command {
  const char* name;
  const char* alias;  // nullptr: none
  int (*fn)(Args);    // nullptr: part of the CLI, not built yet
  const char* usage;  // the name as shown in help, with sub-words
  const char* summary;
};

// Every command of matchlock's CLI, in help order; the ones not built yet are listed so users
// and scripts see the whole surface, and answer with one clear line.
const Command kCommands[] = {
    {"run", nullptr, cmd_run, "run", "Boot a sandbox from an image and run a command in it"},
    {"exec", nullptr, cmd_exec, "exec", "Run a command in a running sandbox"},
    {"list", "ls", cmd_list, "list, ls", "List sandboxes"},
    {"get", nullptr, cmd_get, "get", "Print a sandbox's state as JSON"},
    {"inspect", nullptr, cmd_inspect, "inspect", "Print a sandbox's configuration and history"},
    {"kill", nullptr, cmd_kill, "kill", "Stop running sandboxes"},
    {"rm", nullptr, cmd_remove, "rm", "Remove stopped sandboxes (-f: stop running ones first)"},
    {"prune", nullptr, cmd_prune, "prune", "Remove every stopped or crashed sandbox"},
    {"gc", nullptr, cmd_gc, "gc", "Reconcile recorded sandboxes with the host, clean leftovers"},
    {"log", nullptr, cmd_log, "log", "Print a sandbox's console and engine logs"},
    {"cp", nullptr, cmd_cp, "cp", "Copy a file between the host and a running sandbox"},
    {"port-forward", nullptr, cmd_port_forward, "port-forward",
     "Forward host ports to a running sandbox"},
    {"allow-list", nullptr, cmd_allow_list, "allow-list add|delete",
     "Change a running sandbox's network allow-list"},
    {"rpc", nullptr, cmd_rpc, "rpc", "Serve JSON-RPC 2.0 on stdin/stdout (used by the SDKs)"},
    {"pull", nullptr, cmd_pull, "pull", "Pull an image from a registry"},
    {"build", nullptr, cmd_build, "build", "Build an image from a Dockerfile"},
    {"image", nullptr, cmd_image, "image ls|rm|import", "Manage local images"},
    {"volume", nullptr, cmd_volume, "volume create|ls|rm",
     "Manage named volumes, ext4 disks for run --disk @NAME:/path (also cp)"},
    {"setup", nullptr, cmd_setup, "setup linux", "Check this host and fix what it can"},
    {"version", nullptr, cmd_version, "version", "Print the version, commit and QEMU"},
};

void print_help() {
  std::printf(
      "matchlock runs commands inside disposable microVMs.\n\n"
      "Usage: matchlock COMMAND [ARGS...]\n\nCommands:\n");
  for (const auto& c : kCommands) {
    std::printf("  %-20s %s%s\n", c.usage, c.summary, c.fn ? "" : " (not available yet)");
  }
  std::printf("\nRun 'matchlock COMMAND --help' for a command's flags.\n");
}

const Command* find_command(const std::string& word) {
  for (const auto& c : kCommands) {
    if (word == c.name || (c.alias && word == c.alias)) return &c;
  }
  return nullptr;
}

}  // namespace

}  // namespace matchlock::cli

int main(int argc, char** argv) {
  // A closed stdout must show up as a write error, not kill the owner before it stops QEMU.
  ::signal(SIGPIPE, SIG_IGN);
  matchlock::disable_core_dumps();
  using namespace matchlock::cli;
  std::vector<std::string> words(argv + 1, argv + argc);
  if (words.empty() || words[0] == "-h" || words[0] == "--help" || words[0] == "help") {
    print_help();
    return words.empty() ? 2 : 0;
  }
  if (words[0] == "--version" || words[0] == "-v") return cmd_version({});
  const Command* c = find_command(words[0]);
  if (!c) return fail("unknown command \"" + words[0] + "\" (see 'matchlock --help')");
  if (!c->fn) return fail(std::string(c->name) + " is not available yet");
  return c->fn(Args(words.data() + 1, words.size() - 1));
}
