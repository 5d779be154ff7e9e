// How a process's command line and environment are composed from the image config, the
// sandbox options and the exec request. Pure functions, unit-tested.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "image/image_store.h"

namespace matchlock::sandbox {

inline constexpr const char* kDefaultPath =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Docker's rule: ENTRYPOINT + (args, else CMD). An --entrypoint override (even an empty one)
// drops the image's CMD, as docker does; a cmd override replaces CMD.
std::vector<std::string> compose_docker_command(
    const image::ImageConfig& image, const std::optional<std::vector<std::string>>& entrypoint,
    const std::optional<std::vector<std::string>>& cmd, const std::vector<std::string>& args);

// Later layers override earlier ones by key, keeping first-seen order:
// image ENV < sandbox env (-e, --env-file, rpc env) < per-exec env < secret placeholders.
// Adds PATH (if absent), HOSTNAME, and TERM=xterm for a tty when none was given.
// The placeholders ("NAME=SANDBOX_SECRET_...") come last so that a secret's name always holds
// its placeholder, as the user asked for with --secret. (The CA variables, SSL_CERT_FILE and
// friends, are added by the guest agent, which knows where the image keeps its CA bundle.)
std::vector<std::string> compose_exec_env(const std::vector<std::string>& image_env,
                                          const std::vector<std::string>& sandbox_env,
                                          const std::vector<std::string>& exec_env,
                                          const std::string& hostname, bool tty,
                                          const std::vector<std::string>& placeholder_env = {});

}  // namespace matchlock::sandbox
