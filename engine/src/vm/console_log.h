// The guest's serial console. QEMU writes it to a socketpair, never to a file: the guest
// controls how much it writes, so the engine reads it on its loop and writes console.log only up
// to a cap, then keeps just a bounded tail in memory (for crash reports). QEMU never waits for
// the engine: the engine reads whenever the socket is readable, and a full socket only slows
// the guest's UART.
#pragma once

#include <uv.h>

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"
#include "core/unique_fd.h"
#include "core/uv.h"

namespace matchlock::vm {

// A few MiB hold a verbose boot and any panic many times over.
inline constexpr size_t kConsoleFileCap = 4u << 20;
// The tail kept in memory: what a crash report quotes (the last lines before a panic).
inline constexpr size_t kConsoleTailBytes = 16u << 10;

// The line written to console.log once, when the cap is reached.
std::string console_truncation_note(size_t file_cap);

// Appends `bytes` to `tail`, keeping at most `max_bytes` of its end (amortised: the front is
// cut only when it holds twice that).
void keep_tail(std::string& tail, std::string_view bytes, size_t max_bytes);

class ConsoleLog {
 public:
  // Creates (truncates) `file` and reads `socket`, the engine's end of the console's socketpair.
  static Result<std::unique_ptr<ConsoleLog>> start(uv_loop_t* loop, UniqueFd socket,
                                                   const std::filesystem::path& file,
                                                   size_t file_cap = kConsoleFileCap);
  ~ConsoleLog();
  ConsoleLog(const ConsoleLog&) = delete;
  ConsoleLog& operator=(const ConsoleLog&) = delete;

  // Reads what QEMU already wrote, at once: a crash report after QEMU's exit must not miss the
  // last lines still in the socket.
  void read_pending_now();

  // The last kConsoleTailBytes bytes the guest wrote (raw guest bytes: quote with care).
  std::string tail() const;
  // Whether the guest wrote more than the file holds.
  bool truncated() const { return capped_; }

 private:
  ConsoleLog(UniqueFd socket, UniqueFd file, size_t file_cap);
  // Reads at most `budget` bytes, so a flooding guest cannot hold the loop.
  void read_available(size_t budget);
  void record(std::string_view bytes);
  void write_file(std::string_view bytes);
  void stop_reading();

  UniqueFd socket_;
  UniqueFd file_;
  size_t file_cap_;
  size_t written_ = 0;
  bool capped_ = false;
  bool file_failed_ = false;
  uv::Handle<uv_poll_t> poll_;
  std::string tail_;
};

}  // namespace matchlock::vm
