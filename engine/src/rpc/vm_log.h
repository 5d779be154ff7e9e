// The VM log of rpc `log` / `log_stream` (docs/rpc.md): the sandbox's guest console
// (vms/<id>/console.log) followed by the output of its detached command or launched image
// entrypoint (vms/<id>/output.log), the same files `matchlock log` prints. The owner's own
// diagnostics (engine.log) are not part of it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace matchlock::rpc {

// `log` returns at most this much: the newest bytes when the files hold more (one reply, and
// the engine's memory, stay bounded).
inline constexpr uint64_t kMaxLogBytes = 16 * 1024 * 1024;
// `log_stream` sends the log in notifications of at most this many bytes.
inline constexpr size_t kLogChunkBytes = 32 * 1024;

// The files of the VM log in the order they are read.
std::vector<std::string> vm_log_file_names();

// The whole VM log of the sandbox in `dir` (missing files are empty), its last `max_bytes` if
// longer. Blocking file reads: for the thread pool.
Result<std::string> read_vm_log(const std::filesystem::path& dir, uint64_t max_bytes);

// How far a follower of several append-only files has got: which bytes of which file to send
// next. Pure bookkeeping (no I/O), so the chunking and restart rules are tested alone.
class LogCursor {
 public:
  explicit LogCursor(size_t files) : offsets_(files, 0) {}

  struct Read {
    size_t file = 0;
    uint64_t offset = 0;
    size_t length = 0;
  };
  // Given the files' current sizes (a missing file is 0), the next read of at most `max_chunk`
  // bytes: the earliest file with unsent bytes first. A file now smaller than what was sent of
  // it was truncated or replaced, so it is sent again from its start. nullopt: caught up.
  std::optional<Read> next(const std::vector<uint64_t>& sizes, size_t max_chunk);
  // `n` bytes of `file` were sent (n may be short of the planned read).
  void advance(size_t file, size_t n);

 private:
  std::vector<uint64_t> offsets_;
};

}  // namespace matchlock::rpc
