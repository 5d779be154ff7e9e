// The agent's side of the channel (guest/src): the JSON bodies it decodes from the host, HELLO
// (agent_messages.cpp), CONFIG's boot settings (boot_settings.cpp) and EXEC_OPEN
// (exec_request.cpp). The frames around them are guest_frame_fuzzer's (the same decoder).
// Invariants: parsed settings hold exactly kHostEntropyBytes of entropy; an accepted exec
// request has an argv or a builtin, and its build layer ids are valid ids (they become paths).
#include "agent_messages.h"
#include "boot_settings.h"
#include "exec_request.h"
#include "fuzz_check.h"
#include "guest_protocol/protocol.h"

namespace agent = matchlock::guest_agent;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view payload = matchlock::fuzz::as_text(data, size);
  (void)agent::parse_host_hello_version(payload);

  auto boot = agent::parse_boot_settings(payload);
  if (boot.ok()) FUZZ_CHECK(boot->entropy.size() == agent::kHostEntropyBytes);

  auto exec = agent::parse_exec_request(payload);
  if (exec.ok()) {
    FUZZ_CHECK(!exec->argv.empty() || exec->builtin != agent::Builtin::kNone);
    if (exec->build_root) {
      FUZZ_CHECK(agent::is_valid_layer_id(exec->build_root->upper));
      FUZZ_CHECK(exec->build_root->lower.size() <= matchlock::guest_protocol::kMaxBuildLowerLayers);
      for (const auto& id : exec->build_root->lower) FUZZ_CHECK(agent::is_valid_layer_id(id));
    }
  }
  return 0;
}
