// One JSON-lines round trip over a fresh unix stream connection, on the loop: connect, write
// one line, read one line, close; the whole call has one deadline. What the sdk_callback
// plugin and the VFS hook callbacks do per invocation.
//
// Threat model: the peer is another process (the SDK); its answer is bounded (kMaxAnswerBytes,
// more = error) and handed over as text for the caller to validate.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>

#include "core/result.h"

namespace matchlock {

constexpr size_t kMaxAnswerBytes = 4 * 1024 * 1024;

// `done` runs exactly once on the loop thread, with the answer line (no newline) or kIo /
// kTimeout / kProtocol. `line` must end in '\n'. The call keeps itself alive until done.
void unix_line_call(uv_loop_t* loop, const std::string& socket_path, std::string line,
                    uint32_t timeout_ms, std::function<void(Result<std::string>)> done);

}  // namespace matchlock
