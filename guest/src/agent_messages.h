// JSON bodies of the frames the agent sends (see guest/channel/protocol.h).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace matchlock::guest_agent {

// HELLO: {"version":..,"agent":..,"boot_ms":..,"steps":[{"step":..,"ms":..},..]}: the guest's
// uptime when it greets the host, and how long /init's steps took until then.
std::string hello_message(int64_t boot_ms,
                          const std::vector<std::pair<std::string, double>>& steps = {});
// READY: {"channel_token":..,"steps":[{"step":..,"ms":..},..]}: the token of the CONFIG it
// answers, and how long applying that CONFIG took, step by step.
std::string ready_message(std::string_view channel_token,
                          const std::vector<std::pair<std::string, double>>& steps);
std::string error_message(std::string_view message, std::optional<int> exit_code = std::nullopt);
std::string exec_started_message(pid_t pid);
// ERROR on a file stream: {"message":..,"errno":N}.
std::string file_error_message(std::string_view message, int error_number);
// PORT_CLOSED after a failure: {"error":..}.
std::string port_closed_message(std::string_view error);

// The "version" of a host HELLO, or nullopt when the payload is not such an object.
std::optional<int64_t> parse_host_hello_version(std::string_view payload);

}  // namespace matchlock::guest_agent
