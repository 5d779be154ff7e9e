// The CLI's own stdin/stdout/stderr on the loop, whatever they are (terminal, pipe, file,
// /dev/null), with completion callbacks so output back-pressure reaches the guest.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "core/uv.h"

namespace matchlock::cli {

class OutputStream {
 public:
  explicit OutputStream(uv_loop_t* loop, int fd);
  ~OutputStream();
  // `done` runs once the bytes were handed to the kernel (or the write failed).
  void write(std::string bytes, std::function<void()> done);
  // Runs `fn` when every queued write has completed.
  void flush(std::function<void()> fn);
  bool is_tty() const { return kind_ == UV_TTY; }

 private:
  int fd_;
  uv_handle_type kind_;
  uv::Handle<uv_tty_t> tty_;
  uv::Handle<uv_pipe_t> pipe_;
  uv_stream_t* stream_ = nullptr;
  size_t in_flight_ = 0;
  std::vector<std::function<void()>> flush_waiters_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

class InputStream {
 public:
  InputStream(uv_loop_t* loop, int fd);
  ~InputStream();
  void start(std::function<void(std::string)> on_data, std::function<void()> on_eof);
  void pause();
  void resume();
  bool is_tty() const { return kind_ == UV_TTY; }
  // Puts a terminal into raw mode (restored by restore_mode or the destructor).
  void set_raw_mode();
  void restore_mode();

 private:
  void read_file_chunk();

  uv_loop_t* loop_;
  int fd_;
  uv_handle_type kind_;
  uv::Handle<uv_tty_t> tty_;
  uv::Handle<uv_pipe_t> pipe_;
  uv_stream_t* stream_ = nullptr;
  bool paused_ = true;
  bool eof_ = false;
  bool raw_ = false;
  bool file_read_pending_ = false;
  std::function<void(std::string)> on_data_;
  std::function<void()> on_eof_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace matchlock::cli
