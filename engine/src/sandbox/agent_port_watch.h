// Notices the agent's virtio-serial port being closed or opened in the guest once the sandbox is
// ready. After READY the agent never lets go of its port, so a change means something in the
// guest (a workload unbinding the driver through sysfs, a reboot) has the port: whatever
// arrives on it from then on is not the agent's. QEMU reports each change as VSERPORT_CHANGE.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "vm/qmp_client.h"

namespace matchlock::sandbox {

// Whether `event` is a VSERPORT_CHANGE of the port QEMU knows as `port_id`.
bool is_port_change(const vm::QmpEvent& event, std::string_view port_id);

// The error a lost port is reported with (one line, for the crash report).
Error agent_port_lost_error();

class AgentPortWatch {
 public:
  // Subscribes at once; `armed` tells whether the handshake is over (changes before READY are
  // the agent opening its port). `on_lost` is called once, on the first change while armed.
  AgentPortWatch(vm::QmpClient& qmp, std::string port_id, std::function<bool()> armed,
                 std::function<void(const Error&)> on_lost);
  ~AgentPortWatch();
  AgentPortWatch(const AgentPortWatch&) = delete;
  AgentPortWatch& operator=(const AgentPortWatch&) = delete;

 private:
  vm::QmpClient& qmp_;
  uint64_t subscription_ = 0;
  bool reported_ = false;
};

}  // namespace matchlock::sandbox
