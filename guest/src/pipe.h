// A close-on-exec pipe with both ends owned: how a forked child reports back to the agent.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <optional>

#include "core/unique_fd.h"

namespace matchlock::guest_agent {

struct Pipe {
  UniqueFd read_end;
  UniqueFd write_end;
};

// nullopt (errno set) when the kernel refuses one.
inline std::optional<Pipe> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return std::nullopt;
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

}  // namespace matchlock::guest_agent
