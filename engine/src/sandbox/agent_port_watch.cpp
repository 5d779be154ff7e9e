#include "sandbox/agent_port_watch.h"

#include <rapidjson/document.h>

#include "core/json.h"

namespace matchlock::sandbox {

bool is_port_change(const vm::QmpEvent& event, std::string_view port_id) {
  if (event.name != "VSERPORT_CHANGE") return false;
  json::Document d;
  d.Parse(event.data.c_str(), event.data.size());
  return d.IsObject() && json::get_string(d, "id") == port_id;
}

Error agent_port_lost_error() {
  return Error(ErrorCode::kProtocol,
               "its port was closed or reopened inside the guest after the sandbox was ready: "
               "something in the guest took it over, or the guest rebooted");
}

AgentPortWatch::AgentPortWatch(vm::QmpClient& qmp, std::string port_id, std::function<bool()> armed,
                               std::function<void(const Error&)> on_lost)
    : qmp_(qmp) {
  // `this` outlives the subscription: the destructor ends it.
  subscription_ = qmp_.subscribe([this, port_id = std::move(port_id), armed = std::move(armed),
                                  on_lost = std::move(on_lost)](Result<vm::QmpEvent> event) {
    // The end of QMP is QEMU going away, which the sandbox learns from QEMU's exit.
    if (!event.ok() || reported_ || !is_port_change(*event, port_id) || !armed()) return;
    reported_ = true;
    on_lost(agent_port_lost_error());  // may destroy this watch: nothing after it
  });
}

AgentPortWatch::~AgentPortWatch() {
  qmp_.unsubscribe(subscription_);
}

}  // namespace matchlock::sandbox
