// VmPort over the real sandbox::Sandbox.
#pragma once

#include <uv.h>

#include "rpc/vm_port.h"

namespace matchlock::rpc {

VmFactory sandbox_vm_factory(uv_loop_t* loop);

}  // namespace matchlock::rpc
