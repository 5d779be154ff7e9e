#include "core/unix_line_call.h"

#include <array>
#include <memory>

#include "core/uv.h"

namespace matchlock {
namespace {

class LineCall : public std::enable_shared_from_this<LineCall> {
 public:
  LineCall(uv_loop_t* loop, std::function<void(Result<std::string>)> done)
      : loop_(loop), timer_(loop), done_(std::move(done)) {}

  void start(const std::string& path, std::string line, uint32_t timeout_ms) {
    self_ = shared_from_this();
    line_ = std::move(line);
    std::weak_ptr<LineCall> weak = self_;
    timer_.start(timeout_ms, [weak] {
      if (auto call = weak.lock()) call->finish(Error(ErrorCode::kTimeout, "no answer in time"));
    });
    if (int rc = pipe_.init(loop_, this, uv_pipe_init, 0); rc != 0) {
      return finish(io_error(uv::error_text(rc)));
    }
    // The request outlives this object if the handle closes first: it owns only a weak ref.
    struct Connect {
      uv_connect_t req{};
      std::weak_ptr<LineCall> call;
    };
    auto* connect = new Connect{{}, weak};
    connect->req.data = connect;
    uv_pipe_connect(&connect->req, pipe_.get(), path.c_str(), [](uv_connect_t* req, int status) {
      std::unique_ptr<Connect> owned(static_cast<Connect*>(req->data));
      if (auto call = owned->call.lock()) call->on_connected(status);
    });
  }

 private:
  void on_connected(int status) {
    if (finished_) return;
    if (status < 0) return finish(io_error("cannot connect: " + uv::error_text(status)));
    std::weak_ptr<LineCall> weak = self_;
    uv::write(pipe_.stream(), std::move(line_), [weak](int rc) {
      if (auto call = weak.lock(); call && rc < 0) {
        call->finish(io_error("cannot write: " + uv::error_text(rc)));
      }
    });
    uv_read_start(
        pipe_.stream(),
        [](uv_handle_t* h, size_t, uv_buf_t* buf) {
          auto* call = static_cast<LineCall*>(h->data);
          *buf = call ? uv_buf_init(call->buffer_.data(), call->buffer_.size())
                      : uv_buf_init(nullptr, 0);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
          auto* call = static_cast<LineCall*>(s->data);
          if (call != nullptr) call->on_read(n, buf);
        });
  }

  void on_read(ssize_t n, const uv_buf_t* buf) {
    if (finished_) return;
    if (n < 0) {
      return finish(io_error(n == UV_EOF ? "closed the connection without answering"
                                         : "read failed: " + uv::error_text(static_cast<int>(n))));
    }
    answer_.append(buf->base, static_cast<size_t>(n));
    if (size_t newline = answer_.find('\n'); newline != std::string::npos) {
      answer_.resize(newline);
      return finish(std::move(answer_));
    }
    if (answer_.size() > kMaxAnswerBytes) {
      finish(Error(ErrorCode::kProtocol,
                   "answer longer than " + std::to_string(kMaxAnswerBytes) + " bytes"));
    }
  }

  void finish(Result<std::string> result) {
    if (finished_) return;
    finished_ = true;
    timer_.stop();
    pipe_.close();
    auto done = std::move(done_);
    done(std::move(result));
    // Released on a later turn: this may be running inside the timer's own callback.
    uv::defer(loop_, [self = std::move(self_)] {});
  }

  uv_loop_t* loop_;
  uv::Handle<uv_pipe_t> pipe_;
  uv::Timer timer_;
  std::function<void(Result<std::string>)> done_;
  std::shared_ptr<LineCall> self_;
  std::string line_;
  std::string answer_;
  std::array<char, 64 * 1024> buffer_{};
  bool finished_ = false;
};

}  // namespace

void unix_line_call(uv_loop_t* loop, const std::string& socket_path, std::string line,
                    uint32_t timeout_ms, std::function<void(Result<std::string>)> done) {
  auto call = std::make_shared<LineCall>(loop, std::move(done));
  call->start(socket_path, std::move(line), timeout_ms);
}

}  // namespace matchlock
