// Reads the client's bytes from a file descriptor (stdin) on the loop.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string_view>

namespace matchlock::rpc {

class Input {
 public:
  using DataFn = std::function<void(std::string_view bytes)>;
  using EofFn = std::function<void()>;

  virtual ~Input() = default;
  // `on_eof` runs once, at end of input or on a read error.
  virtual void start(DataFn on_data, EofFn on_eof) = 0;
  // Back-pressure: stop reading until resume() (a guest process not draining its stdin).
  virtual void pause() = 0;
  virtual void resume() = 0;
  // Stops reading for good and releases the handle.
  virtual void close() = 0;
};

std::shared_ptr<Input> open_fd_input(uv_loop_t* loop, int fd);

}  // namespace matchlock::rpc
