// The EXEC_OPEN request, parsed and validated from its JSON payload.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace matchlock::guest_agent {

// A build layer stack (protocol v7): layer ids, each checked by is_valid_layer_id.
struct BuildRoot {
  std::vector<std::string> lower;  // top first; the base disk is below the last
  std::string upper;               // the new layer (for a builtin: the layer it acts on)
};

// Built-in commands the agent runs itself instead of argv (they need "build_root").
enum class Builtin { kNone, kLayerExport, kLayerApply, kLayerDrop };

struct ExecRequest {
  std::vector<std::string> argv;  // never empty unless `builtin` is set
  std::vector<std::string> env;   // "K=V", passed to the process exactly as given
  std::string cwd = "/";
  std::string user;  // docker-style spec; "" = root
  bool tty = false;
  uint16_t rows = 0;
  uint16_t cols = 0;
  bool stdin_open = false;
  bool privileged = false;
  std::optional<BuildRoot> build_root;
  Builtin builtin = Builtin::kNone;
};

// [a-z0-9_-]{1,64}: safe as a single path component.
bool is_valid_layer_id(std::string_view id);

Result<ExecRequest> parse_exec_request(std::string_view payload);

}  // namespace matchlock::guest_agent
