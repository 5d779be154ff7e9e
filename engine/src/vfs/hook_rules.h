// VFS hook settings as the user gives them (rpc create vfs.interception, docs/files.md).
// (Interface stub: the hook pipeline fills in the rule fields.)
#pragma once

#include <string>
#include <vector>

namespace matchlock::vfs {

struct HookRule;  // defined with the pipeline

struct HookSettings {
  bool emit_events = false;
  std::string callback_socket;  // SDK callback server; "" = none
};

}  // namespace matchlock::vfs
