// `port_forward` params (docs/rpc.md): {"forwards": [{"local_port", "remote_port",
// "address"?}], "addresses": [IP...]?} into the listeners to bind. "address" per forward is our
// extension (for `matchlock port-forward ID ADDR:HOST:GUEST`); the reference's clients send
// only "addresses", which applies to every forward (default 127.0.0.1).
#pragma once

#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "core/result.h"
#include "sandbox/port_forward_spec.h"

namespace matchlock::rpc {

// Errors are kInvalidArgument and name the field ("forwards is required",
// "forwards[1].remote_port: must be 1-65535").
Result<std::vector<sandbox::PortForwardRule>> parse_port_forward_params(
    const rapidjson::Value* params);

}  // namespace matchlock::rpc
