// The EXEC_OPEN request, parsed and validated from its JSON payload.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace matchlock::guest_agent {

struct ExecRequest {
  std::vector<std::string> argv;  // never empty
  std::vector<std::string> env;   // "K=V", passed to the process exactly as given
  std::string cwd = "/";
  std::string user;  // docker-style spec; "" = root
  bool tty = false;
  uint16_t rows = 0;
  uint16_t cols = 0;
  bool stdin_open = false;
  bool privileged = false;
};

Result<ExecRequest> parse_exec_request(std::string_view payload);

}  // namespace matchlock::guest_agent
