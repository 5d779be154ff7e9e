// What QEMU writes that the guest controls: the serial console and QEMU's own stdout/stderr
// (which a guest can provoke). QEMU writes each to a socketpair, never to a file; the engine
// reads it on its loop and writes the log file only up to a cap, then keeps just a bounded tail
// in memory (for crash and error reports). The console never makes QEMU wait (a full socket only
// slows the guest's UART); QEMU's stderr is written blocking, so it waits only while the engine's
// loop is busy, and gets EPIPE (QEMU ignores SIGPIPE) once the engine stops reading.
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

// console.log: a few MiB hold a verbose boot and any panic many times over.
inline constexpr size_t kConsoleLogCap = 4u << 20;
// qemu.log: QEMU's warnings and errors; a healthy run writes a few lines.
inline constexpr size_t kQemuLogCap = 1u << 20;
// The tail kept in memory: what a report quotes (the last lines before a panic or an exit).
inline constexpr size_t kLogTailBytes = 16u << 10;

// The line written to the file once, when the cap is reached; `source` says who wrote too much.
std::string truncation_note(std::string_view source, size_t file_cap);

// Appends `bytes` to `tail`, keeping at most `max_bytes` of its end (amortised: the front is
// cut only when it holds twice that).
void keep_tail(std::string& tail, std::string_view bytes, size_t max_bytes);

class CappedLog {
 public:
  // Creates (truncates) `file` and reads `socket`, the engine's end of the writer's socketpair.
  // `source` names the writer in the truncation note and in warnings ("the guest console").
  static Result<std::unique_ptr<CappedLog>> start(uv_loop_t* loop, UniqueFd socket,
                                                  const std::filesystem::path& file,
                                                  size_t file_cap, std::string source);
  ~CappedLog();
  CappedLog(const CappedLog&) = delete;
  CappedLog& operator=(const CappedLog&) = delete;

  // Reads what was already written, at once: a report after QEMU's exit must not miss the last
  // lines still in the socket.
  void read_pending_now();

  // The last kLogTailBytes bytes written (raw bytes a guest may control: quote with care).
  std::string tail() const;
  // Whether more was written than the file holds.
  bool truncated() const { return capped_; }

 private:
  CappedLog(UniqueFd socket, UniqueFd file, size_t file_cap, std::string source);
  // Reads at most `budget` bytes, so a flooding guest cannot hold the loop.
  void read_available(size_t budget);
  void record(std::string_view bytes);
  void write_file(std::string_view bytes);
  void stop_reading();

  UniqueFd socket_;
  UniqueFd file_;
  size_t file_cap_;
  std::string source_;
  size_t written_ = 0;
  bool capped_ = false;
  bool file_failed_ = false;
  uv::Handle<uv_poll_t> poll_;
  std::string tail_;
};

}  // namespace matchlock::vm
