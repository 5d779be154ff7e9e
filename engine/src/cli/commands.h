// Entry points of the CLI subcommands. Each takes the words after the subcommand name and
// returns the process exit code: 0 success, 1 runtime failure, 2 usage error (run passes the
// guest command's code through). main.cpp dispatches on the first word.
#pragma once

#include <span>
#include <string>

namespace matchlock::cli {

using Args = std::span<const std::string>;

int cmd_run(Args args);
int cmd_rpc(Args args);
int cmd_pull(Args args);
int cmd_build(Args args);  // build [flags] CONTEXT
int cmd_image(Args args);  // image import | ls | rm
int cmd_list(Args args);   // list | ls
int cmd_get(Args args);
int cmd_inspect(Args args);
int cmd_remove(Args args);
int cmd_prune(Args args);
int cmd_gc(Args args);
int cmd_setup(Args args);  // setup linux
int cmd_version(Args args);
int cmd_exec(Args args);  // exec ID CMD...: over the sandbox's control socket
int cmd_kill(Args args);  // kill ID... | --all
int cmd_log(Args args);   // log ID [-f]
int cmd_allow_list(Args args);
int cmd_cp(Args args);            // cp SRC DST: one side ID:/guest/path
int cmd_port_forward(Args args);  // allow-list add|delete ID HOSTS...
int cmd_volume(Args args);        // volume create|ls|rm|cp

// Prints "matchlock: <message>" on stderr; returns the exit code to use for usage errors.
int fail(const std::string& message, int exit_code = 2);

}  // namespace matchlock::cli
