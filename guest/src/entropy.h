// Seeds the kernel's random number generator with bytes from the host.
#pragma once

#include <string_view>

#include "core/result.h"

namespace matchlock::guest_agent {

// Mixes `bytes` into the input pool crediting 8 bits per byte (the host drew them from its own
// CRNG), then forces a reseed of the CRNG, so that guests restored from one saved boot do not
// produce the same random numbers. Needs CAP_SYS_ADMIN (PID 1 has it).
Status add_host_entropy(std::string_view bytes);

}  // namespace matchlock::guest_agent
