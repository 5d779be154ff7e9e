// VmPort over the real sandbox::Sandbox.
#pragma once

#include <uv.h>

#include "rpc/vm_port.h"

namespace matchlock::rpc {

VmFactory sandbox_vm_factory(uv_loop_t* loop);
// The VmPort of a sandbox booted elsewhere (`matchlock run` boots its own).
std::shared_ptr<VmPort> sandbox_vm(std::shared_ptr<sandbox::Sandbox> sandbox);

}  // namespace matchlock::rpc
