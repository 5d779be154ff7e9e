// Chooses the sandbox's network mode from its options: NAT (null policy) unless a policy flag
// (--allow-host; later --secret and plugin flags) asks for interception.
#pragma once

#include <memory>

#include "core/result.h"
#include "net/intercept/intercept_policy.h"
#include "sandbox/sandbox_options.h"

namespace matchlock::sandbox {

bool wants_interception(const SandboxOptions& o);
Result<std::shared_ptr<net::InterceptPolicy>> make_network_policy(const SandboxOptions& o);

}  // namespace matchlock::sandbox
