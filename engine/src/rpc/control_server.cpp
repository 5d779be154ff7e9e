#include "rpc/control_server.h"

#include <sys/stat.h>

#include <system_error>

#include "core/log.h"
#include "rpc/control_socket.h"
#include "rpc/output.h"
#include "rpc/session.h"

namespace matchlock::rpc {
namespace {

constexpr size_t kReadBufferBytes = 64 * 1024;

// Protocol lines onto one client's socket. Detached when the connection closes: later lines
// are reported as failed writes.
class SocketOutput : public Output {
 public:
  explicit SocketOutput(uv_stream_t* stream) : stream_(stream) {}

  void write_line(std::string line, std::function<void(bool)> done) override {
    if (!stream_) {
      if (done) done(false);
      return;
    }
    ++in_flight_;
    std::weak_ptr<bool> alive = alive_;
    uv::write(stream_, std::move(line), [this, alive, done = std::move(done)](int status) {
      if (done) done(status == 0);
      if (alive.expired()) return;
      if (--in_flight_ == 0) {
        auto waiters = std::move(flush_waiters_);
        flush_waiters_.clear();
        for (auto& w : waiters) w();
      }
    });
  }

  void flush(std::function<void()> done) override {
    if (in_flight_ == 0) return done();
    flush_waiters_.push_back(std::move(done));
  }

  void detach() { stream_ = nullptr; }

 private:
  uv_stream_t* stream_;
  size_t in_flight_ = 0;
  std::vector<std::function<void()>> flush_waiters_;
  // Write completions may outlive the output (the stream is closed under them).
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace

// One connected client: its socket and its attached session.
class ControlServer::Client : public std::enable_shared_from_this<Client> {
 public:
  Client(uv_loop_t* loop, std::weak_ptr<ControlServer> server, uint64_t serial)
      : loop_(loop), server_(std::move(server)), serial_(serial) {}

  uv::Handle<uv_pipe_t>& pipe() { return pipe_; }

  void start(std::shared_ptr<SandboxHost> host) {
    output_ = std::make_shared<SocketOutput>(pipe_.stream());
    session_ = Session::open(loop_, output_, std::move(host), SessionRole::kAttached);
    std::weak_ptr<Client> weak = shared_from_this();
    session_->set_on_input_paused([weak](bool paused) {
      if (auto self = weak.lock()) paused ? self->stop_reading() : self->start_reading();
    });
    session_->set_on_done([weak] {
      if (auto self = weak.lock()) self->close();
    });
    buf_ = std::make_unique_for_overwrite<char[]>(kReadBufferBytes);
    start_reading();
  }

  // Ends the connection (the session is finished, or the server is going away).
  void close() {
    if (closed_) return;
    closed_ = true;
    if (output_) output_->detach();
    pipe_.close();
    // Not from inside the session's own callback: the session is destroyed with the client.
    std::weak_ptr<ControlServer> server = server_;
    uint64_t serial = serial_;
    uv::defer(loop_, [server, serial] {
      if (auto s = server.lock()) s->remove_client(serial);
    });
  }

 private:
  void start_reading() {
    if (closed_ || reading_) return;
    reading_ = true;
    pipe_.get()->data = this;
    uv_read_start(
        pipe_.stream(),
        [](uv_handle_t* h, size_t, uv_buf_t* buf) {
          auto* self = static_cast<Client*>(h->data);
          *buf = self ? uv_buf_init(self->buf_.get(), kReadBufferBytes) : uv_buf_init(nullptr, 0);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
          auto* self = static_cast<Client*>(s->data);
          if (!self || n == 0) return;
          auto keep = self->shared_from_this();  // the session may end the client
          if (n < 0) {
            self->stop_reading();
            self->session_->handle_eof();
            return;
          }
          self->session_->handle_input(std::string_view(buf->base, static_cast<size_t>(n)));
        });
  }

  void stop_reading() {
    if (!reading_) return;
    reading_ = false;
    if (!closed_) uv_read_stop(pipe_.stream());
  }

  uv_loop_t* loop_;
  std::weak_ptr<ControlServer> server_;
  uint64_t serial_;
  uv::Handle<uv_pipe_t> pipe_;
  std::shared_ptr<SocketOutput> output_;
  std::shared_ptr<Session> session_;
  std::unique_ptr<char[]> buf_;
  bool reading_ = false;
  bool closed_ = false;
};

Result<std::shared_ptr<ControlServer>> ControlServer::start(uv_loop_t* loop,
                                                            std::shared_ptr<SandboxHost> host,
                                                            std::filesystem::path socket_path) {
  auto server = std::shared_ptr<ControlServer>(
      new ControlServer(loop, std::move(host), std::move(socket_path)));
  MATCHLOCK_TRY(server->listen());
  server->host_->add_observer(server);
  return server;
}

ControlServer::ControlServer(uv_loop_t* loop, std::shared_ptr<SandboxHost> host,
                             std::filesystem::path path)
    : loop_(loop), host_(std::move(host)), path_(std::move(path)) {}

ControlServer::~ControlServer() {
  stop();
  auto clients = std::move(clients_);
  for (auto& [serial, client] : clients) client->close();
}

Status ControlServer::listen() {
  auto name = socket_name(path_);
  if (!name.ok()) return name.error();
  std::error_code ec;
  std::filesystem::remove(path_, ec);  // a stale socket of a crashed owner with this id
  int rc = listener_.init(loop_, this, uv_pipe_init, 0);
  if (rc == 0) rc = uv_pipe_bind(listener_.get(), name->name.c_str());
  if (rc != 0) return io_error("control socket " + path_.string() + ": " + uv::error_text(rc));
  // The directory is 0700 already; the socket itself says the same.
  if (::chmod(path_.c_str(), 0600) != 0) {
    listener_.close();
    std::filesystem::remove(path_, ec);
    return io_error("chmod " + path_.string() + " failed");
  }
  rc = uv_listen(listener_.stream(), 16, [](uv_stream_t* s, int status) {
    auto* self = static_cast<ControlServer*>(s->data);
    if (self && status == 0) self->on_connection();
  });
  if (rc != 0) {
    listener_.close();
    std::filesystem::remove(path_, ec);
    return io_error("listen on " + path_.string() + ": " + uv::error_text(rc));
  }
  listening_ = true;
  return {};
}

void ControlServer::on_connection() {
  uint64_t serial = next_serial_++;
  auto client = std::make_shared<Client>(loop_, weak_from_this(), serial);
  client->pipe().init(loop_, client.get(), uv_pipe_init, 0);
  if (uv_accept(listener_.stream(), client->pipe().stream()) != 0) return;
  if (clients_.size() >= kMaxClients || !host_->ready()) {
    log::warn("rpc: control socket: turning a client away (" +
              std::string(host_->ready() ? "too many clients" : "sandbox not running") + ")");
    client->pipe().close();
    return;
  }
  clients_[serial] = client;
  client->start(host_);
}

void ControlServer::remove_client(uint64_t serial) {
  clients_.erase(serial);
  if (clients_.empty() && on_idle_) {
    auto fn = std::move(on_idle_);
    on_idle_ = nullptr;
    fn();
  }
}

void ControlServer::when_idle(std::function<void()> fn) {
  if (clients_.empty()) return fn();
  on_idle_ = std::move(fn);
  // A client that stops reading must not keep the owner alive: give up on it after a while.
  idle_timer_ = std::make_unique<uv::Timer>(loop_);
  idle_timer_->start(kIdleWaitMs, [this] {
    auto clients = clients_;
    for (auto& [serial, client] : clients) client->close();
  });
}

void ControlServer::stop() {
  if (!listening_) return;
  listening_ = false;
  listener_.close();
  std::error_code ec;
  std::filesystem::remove(path_, ec);
}

}  // namespace matchlock::rpc
