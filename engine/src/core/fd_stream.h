// Reading and writing an inherited file descriptor (stdin, stdout, stderr) on the loop, whatever
// it is: a terminal or a pipe/socket becomes a libuv stream; a regular file or /dev/null, which
// libuv cannot watch, is read on the thread pool and written with blocking writes. The one
// place where those differences, end of input, back-pressure and write completion live, for the
// CLI's `run` and the rpc server alike.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/uv.h"

namespace matchlock {

// Reads an fd until end of input or a read error. The fd is not owned, with libuv's one
// exception: closing a pipe or socket handle closes its fd when that fd is above 2 (stdio fds
// always stay open).
class FdReader {
 public:
  using DataFn = std::function<void(std::string_view bytes)>;
  using EndFn = std::function<void()>;

  FdReader(uv_loop_t* loop, int fd);
  ~FdReader();
  FdReader(const FdReader&) = delete;
  FdReader& operator=(const FdReader&) = delete;

  // Starts reading. `on_end` runs once, at end of input or on a read error; `on_data` never
  // runs after it, nor after close() or the reader's destruction.
  void start(DataFn on_data, EndFn on_end);
  // Back-pressure: stop reading until resume().
  void pause();
  void resume();
  // Stops reading for good and releases the handle.
  void close();

  bool is_tty() const { return kind_ == UV_TTY; }
  // Puts a terminal into raw mode (restored by restore_mode, close or the destructor).
  void set_raw_mode();
  void restore_mode();

 private:
  struct FileState;
  struct FileRead;

  void start_stream_reads();
  void read_file_chunk();
  void end();

  uv_loop_t* loop_;
  int fd_;
  uv_handle_type kind_;
  uv::Handle<uv_tty_t> tty_;
  uv::Handle<uv_pipe_t> pipe_;
  uv_stream_t* stream_ = nullptr;  // null: a file, read on the thread pool
  std::unique_ptr<char[]> buf_;
  // Shared with thread-pool reads in flight, which may complete after the reader is gone.
  std::shared_ptr<FileState> file_;
  DataFn on_data_;
  EndFn on_end_;
  bool paused_ = true;
  bool ended_ = false;
  bool closed_ = false;
  bool raw_ = false;
};

// Writes to an fd in call order (owned as FdReader's is); each write reports its completion,
// so a slow reader of our output slows down whoever produces it.
class FdWriter {
 public:
  // `status` is 0 once the bytes reached the OS, else a libuv error code (UV_ECANCELED: the
  // writer was destroyed first).
  using DoneFn = std::function<void(int status)>;

  FdWriter(uv_loop_t* loop, int fd);
  ~FdWriter();
  FdWriter(const FdWriter&) = delete;
  FdWriter& operator=(const FdWriter&) = delete;

  // `done` may run before write returns (blocking writes, or a write libuv refused).
  void write(std::string bytes, DoneFn done = {});
  // Runs `fn` once every write queued so far has completed or failed.
  void flush(std::function<void()> fn);
  bool is_tty() const { return kind_ == UV_TTY; }

 private:
  int write_blocking(const std::string& bytes);
  void on_stream_write_done();

  int fd_;
  uv_handle_type kind_;
  uv::Handle<uv_tty_t> tty_;
  uv::Handle<uv_pipe_t> pipe_;
  uv_stream_t* stream_ = nullptr;  // null: blocking writes
  int blocking_error_ = 0;         // the first failed blocking write; later ones are skipped
  size_t in_flight_ = 0;
  std::vector<std::function<void()>> flush_waiters_;
  // Write completions outlive the writer; they check this before touching it.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace matchlock
