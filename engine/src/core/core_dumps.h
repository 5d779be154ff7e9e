// The engine holds secret values (the proxy's credentials, API keys from the environment): a
// core dump would write them to disk.
#pragma once

namespace matchlock {

// RLIMIT_CORE 0, soft and hard, for this process and everything it starts. Best effort: a
// failure is ignored (the limit only narrows, it never fails a command).
void disable_core_dumps();

}  // namespace matchlock
