#include "guest_client/guest_connection.h"

#include <sys/random.h>
#include <sys/time.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/base64.h"
#include "core/json.h"
#include "core/log.h"
#include "guest_client/guest_steps.h"
#include "guest_protocol/channel_token.h"

namespace matchlock::guest_client {

using guest_protocol::FrameType;
using guest_protocol::StreamFd;

namespace {
constexpr size_t kReadChunk = 64 * 1024;

int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// 32 bytes from getrandom(2) in lowercase hex: a fresh channel token.
Result<std::string> draw_channel_token() {
  unsigned char bytes[guest_protocol::kChannelTokenLength / 2];
  if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
    return Error(ErrorCode::kIo, std::string("getrandom (channel token): ") + std::strerror(errno));
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string token;
  token.reserve(guest_protocol::kChannelTokenLength);
  for (unsigned char b : bytes) {
    token.push_back(kHex[b >> 4]);
    token.push_back(kHex[b & 0xf]);
  }
  return token;
}
}  // namespace

// ---- ExecHandle ----------------------------------------------------------------------------

void ExecHandle::write_stdin(std::string bytes) {
  queue_bytes(std::move(bytes));
}

void ExecHandle::close_stdin() {
  queue_eof();
}

void ExecHandle::resize(uint16_t rows, uint16_t cols) {
  if (finished() || !tty_) return;
  if (auto c = conn_.lock())
    c->send(FrameType::kResize, stream_id(), guest_protocol::resize_payload(rows, cols));
}

void ExecHandle::signal(int signo) {
  if (finished() || signo <= 0 || signo > 64) return;
  if (auto c = conn_.lock()) {
    c->send(FrameType::kSignal, stream_id(), std::string(1, static_cast<char>(signo)));
  }
}

void ExecHandle::cancel(uint32_t grace_ms) {
  if (finished()) return;
  if (auto c = conn_.lock())
    c->send(FrameType::kCancel, stream_id(), guest_protocol::u32_payload(grace_ms));
}

void ExecHandle::deliver_bytes(StreamFd fd, std::string_view bytes,
                               std::function<void()> consumed) {
  if (events_.on_output) {
    events_.on_output(fd, bytes, std::move(consumed));
  } else {
    consumed();
  }
}

void ExecHandle::deliver_eof(StreamFd fd) {
  if (events_.on_eof) events_.on_eof(fd);
}

void ExecHandle::deliver_lost(const Error& reason) {
  if (events_.on_error) events_.on_error(reason, -1);
}

// ---- GuestConnection -----------------------------------------------------------------------

std::shared_ptr<GuestConnection> GuestConnection::create(
    uv_loop_t* loop, UniqueFd socket, std::function<void(const Error&)> on_lost) {
  std::shared_ptr<GuestConnection> c(new GuestConnection());
  c->start(loop, std::move(socket), std::move(on_lost));
  return c;
}

void GuestConnection::start(uv_loop_t* loop, UniqueFd socket,
                            std::function<void(const Error&)> on_lost) {
  on_lost_ = std::move(on_lost);
  read_buf_ = std::make_unique_for_overwrite<char[]>(kReadChunk);
  pipe_.init(loop, this, uv_pipe_init, 0);
  uv_pipe_open(pipe_.get(), socket.release());
  uv_read_start(
      pipe_.stream(),
      [](uv_handle_t* h, size_t, uv_buf_t* b) {
        auto* self = static_cast<GuestConnection*>(h->data);
        *b = self ? uv_buf_init(self->read_buf_.get(), kReadChunk) : uv_buf_init(nullptr, 0);
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
        if (auto* self = static_cast<GuestConnection*>(s->data)) self->on_read(n, b);
      });
}

GuestConnection::~GuestConnection() {
  pipe_.close();
}

void GuestConnection::on_read(ssize_t n, const uv_buf_t* buf) {
  if (n == 0) return;
  if (n < 0) {
    fail(Error(ErrorCode::kGuest, n == UV_EOF
                                      ? "guest channel closed"
                                      : "guest channel: " + uv::error_text(static_cast<int>(n))));
    return;
  }
  auto self = shared_from_this();  // frame handlers may drop the last outside reference
  if (read_gate_) {
    read_gate_();
    if (closed_) return;
  }
  decoder_.feed(std::string_view(buf->base, static_cast<size_t>(n)));
  while (!closed_) {
    auto f = decoder_.next();
    if (!f) break;
    on_frame(*f);
  }
  if (decoder_.failed() && !closed_) {
    fail(Error(ErrorCode::kProtocol, "guest sent a malformed frame: " + decoder_.error()));
  }
}

void GuestConnection::on_frame(guest_protocol::Frame& f) {
  if (f.stream == guest_protocol::kControlStream) return on_control_frame(f);
  auto it = streams_.find(f.stream);
  if (it == streams_.end()) return;  // a stream we already finished: late frames are harmless
  auto s = it->second;
  switch (f.type) {
    case FrameType::kData:
    case FrameType::kEof:
    case FrameType::kCredit:
      return on_flow_frame(f, s);
    default:
      break;
  }
  if (s->kind_ == GuestStream::Kind::kExec) {
    on_exec_frame(f, std::static_pointer_cast<ExecHandle>(s));
  } else if (s->kind_ == GuestStream::Kind::kFile) {
    on_file_frame(f, std::static_pointer_cast<FileHandle>(s));
  } else {
    on_port_frame(f, std::static_pointer_cast<PortHandle>(s));
  }
}

void GuestConnection::on_control_frame(guest_protocol::Frame& f) {
  switch (f.type) {
    case FrameType::kHello: {
      // After READY the agent never reopens its port (the host end lives as long as QEMU), so
      // another HELLO means something in the guest took the port over: the channel is lost.
      if (ready_) {
        return fail(Error(ErrorCode::kProtocol,
                          "the guest sent a second HELLO after READY (the channel was reopened "
                          "or taken over)"));
      }
      json::Document d;
      d.Parse(f.payload.c_str(), f.payload.size());
      if (d.HasParseError() || !d.IsObject()) {
        return fail(Error(ErrorCode::kProtocol, "guest HELLO is not a JSON object"));
      }
      int64_t version = json::get_int(d, "version", -1);
      if (version != guest_protocol::kProtocolVersion) {
        return fail(Error(ErrorCode::kGuest, "guest agent speaks protocol version " +
                                                 std::to_string(version) + ", the engine speaks " +
                                                 std::to_string(guest_protocol::kProtocolVersion)));
      }
      agent_ = json::get_string(d, "agent").substr(0, 200);
      if (log::enabled(log::Level::kDebug)) {
        if (auto steps = guest_steps_line(d, "guest boot, /init to HELLO"); !steps.empty()) {
          log::debug(steps);
        }
      }
      if (hello_gate_) {
        // The first HELLO: the guest is booted and waits for us, which is the moment to save
        // it. The reply waits until the gate opens; a HELLO meanwhile (the agent reopened its
        // port) is answered then.
        auto gate = std::exchange(hello_gate_, nullptr);
        hello_gate_closed_ = true;
        std::weak_ptr<GuestConnection> weak = weak_from_this();
        return gate([weak] {
          auto self = weak.lock();
          if (!self || self->closed_) return;
          self->hello_gate_closed_ = false;
          self->answer_hello();
        });
      }
      if (hello_gate_closed_) return;
      answer_hello();
      return;
    }
    case FrameType::kReady: {
      if (ready_) return;
      if (channel_token_.empty()) {
        return fail(Error(ErrorCode::kProtocol, "the guest sent READY before any CONFIG"));
      }
      json::Document d;
      d.Parse(f.payload.c_str(), f.payload.size());
      std::string token = d.IsObject() ? json::get_string(d, "channel_token") : "";
      if (!guest_protocol::channel_tokens_equal(channel_token_, token)) {
        return fail(Error(ErrorCode::kProtocol,
                          "the guest's READY does not carry this connection's channel token (the "
                          "channel was taken over, or the agent is not ours)"));
      }
      ready_ = true;
      if (log::enabled(log::Level::kDebug)) {
        if (auto steps = guest_steps_line(d, "guest configuration"); !steps.empty()) {
          log::debug(steps);
        }
      }
      if (auto cb = std::move(on_ready_)) cb(Status());
      return;
    }
    case FrameType::kError: {
      json::Document d;
      d.Parse(f.payload.c_str(), f.payload.size());
      std::string msg = d.IsObject() ? json::get_string(d, "message") : "";
      Error e(ErrorCode::kGuest, "guest setup failed: " + msg.substr(0, 500));
      if (!ready_) {
        if (auto cb = std::move(on_ready_)) cb(e);
      }
      return;
    }
    case FrameType::kPong: {
      if (pongs_.empty()) return;
      auto cb = std::move(pongs_.front());
      pongs_.pop_front();
      if (cb) cb();
      return;
    }
    default:
      return fail(Error(ErrorCode::kProtocol, std::string("unexpected ") +
                                                  guest_protocol::frame_type_name(f.type) +
                                                  " frame on the control stream"));
  }
}

void GuestConnection::on_flow_frame(guest_protocol::Frame& f,
                                    const std::shared_ptr<GuestStream>& s) {
  switch (f.type) {
    case FrameType::kData: {
      auto data = guest_protocol::parse_data(f.payload);
      if (!data || data->fd == StreamFd::kStdin) {
        return fail(Error(ErrorCode::kProtocol, "guest sent a malformed DATA frame"));
      }
      if (!s->accepts_output()) {
        return fail(
            Error(ErrorCode::kProtocol, s->kind_ == GuestStream::Kind::kFile
                                            ? "guest sent DATA out of place on a file stream"
                                            : "guest sent DATA before PORT_OPENED"));
      }
      StreamFd fd = data->fd;
      if (!s->from_guest_[fd].accept(data->bytes.size())) {
        return fail(Error(ErrorCode::kProtocol, "guest sent output beyond its credit"));
      }
      uint32_t n = static_cast<uint32_t>(data->bytes.size());
      std::weak_ptr<GuestConnection> weak = shared_from_this();
      std::weak_ptr<GuestStream> ws = s;
      auto consumed = [weak, ws, fd, n] {
        auto c = weak.lock();
        auto ss = ws.lock();
        if (!c || !ss || ss->finished_) return;
        ss->from_guest_[fd].grant(n);
        c->send(FrameType::kCredit, ss->stream_, guest_protocol::credit_payload(fd, n));
      };
      s->deliver_bytes(fd, data->bytes, std::move(consumed));
      return;
    }
    case FrameType::kEof: {
      auto fd = guest_protocol::parse_fd(f.payload);
      if (!fd || *fd == StreamFd::kStdin) {
        return fail(Error(ErrorCode::kProtocol, "guest sent a malformed EOF frame"));
      }
      if (!s->accepts_output()) {
        return fail(Error(ErrorCode::kProtocol, s->kind_ == GuestStream::Kind::kFile
                                                    ? "guest sent EOF out of place on a file stream"
                                                    : "guest sent EOF before PORT_OPENED"));
      }
      if (!s->from_guest_[*fd].end()) return;
      s->deliver_eof(*fd);
      return;
    }
    case FrameType::kCredit: {
      auto c = guest_protocol::parse_credit(f.payload);
      if (!c || c->fd != StreamFd::kStdin) {
        return fail(Error(ErrorCode::kProtocol, "guest sent a malformed CREDIT frame"));
      }
      s->to_guest_.add_credit(c->bytes);
      pump(*s);
      return;
    }
    default:
      return;
  }
}

void GuestConnection::on_exec_frame(guest_protocol::Frame& f,
                                    const std::shared_ptr<ExecHandle>& h) {
  switch (f.type) {
    case FrameType::kExecStarted: {
      json::Document d;
      d.Parse(f.payload.c_str(), f.payload.size());
      int pid = d.IsObject() ? static_cast<int>(json::get_int(d, "pid")) : 0;
      if (h->events_.on_started) h->events_.on_started(pid);
      return;
    }
    case FrameType::kExit: {
      auto code = guest_protocol::parse_i32(f.payload);
      if (!code) return fail(Error(ErrorCode::kProtocol, "guest sent a malformed EXIT frame"));
      auto events = h->events_;
      finish_stream(f.stream);
      if (events.on_exit) events.on_exit(*code);
      return;
    }
    case FrameType::kError: {
      json::Document d;
      d.Parse(f.payload.c_str(), f.payload.size());
      std::string msg = d.IsObject() ? json::get_string(d, "message") : "exec failed";
      int code = d.IsObject() ? static_cast<int>(json::get_int(d, "exit_code", 126)) : 126;
      auto events = h->events_;
      finish_stream(f.stream);
      if (events.on_error) events.on_error(Error(ErrorCode::kGuest, msg.substr(0, 1000)), code);
      return;
    }
    default:
      return fail(Error(ErrorCode::kProtocol, std::string("unexpected ") +
                                                  guest_protocol::frame_type_name(f.type) +
                                                  " frame on an exec stream"));
  }
}

void GuestConnection::answer_hello() {
  hello_seen_ = true;
  send(FrameType::kHello, 0,
       "{\"version\":" + std::to_string(guest_protocol::kProtocolVersion) + "}");
  // A HELLO before READY (the agent reopened its port mid-handshake) gets the config again.
  if (config_) send_config();
}

void GuestConnection::handshake(GuestConfig config, std::function<void(Status)> on_ready) {
  config_ = std::move(config);
  on_ready_ = std::move(on_ready);
  if (hello_seen_) send_config();
}

void GuestConnection::defer_hello_reply(std::function<void(std::function<void()> reply)> gate) {
  hello_gate_ = std::move(gate);
}

void GuestConnection::resume_restored_guest() {
  answer_hello();
}

void GuestConnection::send_config() {
  // Fresh bytes for every CONFIG: guests restored from one saved boot start with the same RNG
  // state, and this is what makes theirs differ. getrandom() of <= 256 bytes is never short once
  // the host's pool is initialized; a failure leaves the entry out and the guest refuses CONFIG.
  std::string entropy(64, '\0');
  ssize_t drawn = ::getrandom(entropy.data(), entropy.size(), 0);
  if (channel_token_.empty()) {
    auto token = draw_channel_token();
    if (!token.ok()) return fail(token.error());
    channel_token_ = std::move(*token);
  }
  json::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("channel_token", json::str(channel_token_, a), a);
  if (drawn == static_cast<ssize_t>(entropy.size())) {
    d.AddMember("entropy", json::str(base64::encode(entropy), a), a);
  }
  if (config_->restored) d.AddMember("restored", true, a);
  d.AddMember("hostname", json::str(config_->hostname, a), a);
  d.AddMember("hosts", json::str(config_->hosts_file, a), a);
  if (config_->resolv_conf) d.AddMember("resolv_conf", json::str(*config_->resolv_conf, a), a);
  d.AddMember("time_unix_ms", now_unix_ms(), a);
  if (!config_->ca_certificate.empty()) {
    d.AddMember("ca_certificate", json::str(config_->ca_certificate, a), a);
  }
  if (!config_->workspace.empty()) d.AddMember("workspace", json::str(config_->workspace, a), a);
  if (!config_->disks.empty()) {
    rapidjson::Value disks(rapidjson::kArrayType);
    for (const auto& disk : config_->disks) {
      rapidjson::Value e(rapidjson::kObjectType);
      e.AddMember("serial", json::str(disk.serial, a), a);
      e.AddMember("path", json::str(disk.path, a), a);
      e.AddMember("readonly", disk.readonly, a);
      disks.PushBack(e, a);
    }
    d.AddMember("disks", disks, a);
  }
  if (config_->network) {
    rapidjson::Value n(rapidjson::kObjectType);
    n.AddMember("address", json::str(config_->network->address, a), a);
    n.AddMember("prefix", config_->network->prefix, a);
    n.AddMember("gateway", json::str(config_->network->gateway, a), a);
    n.AddMember("mtu", config_->network->mtu, a);
    d.AddMember("network", n, a);
  }
  send(FrameType::kConfig, 0, json::to_string(d));
}

uint32_t GuestConnection::register_stream(const std::shared_ptr<GuestStream>& s) {
  s->conn_ = weak_from_this();
  s->stream_ = next_stream_;
  next_stream_ += 2;
  if (!closed_) streams_[s->stream_] = s;
  return s->stream_;
}

std::shared_ptr<ExecHandle> GuestConnection::open_exec(const ExecRequest& r, ExecEvents events) {
  auto h = std::make_shared<ExecHandle>();
  h->tty_ = r.tty;
  h->events_ = std::move(events);
  if (r.tty) h->from_guest_[StreamFd::kStderr] = IncomingFlow::unused();  // one merged output
  register_stream(h);
  if (closed_) {
    h->finished_ = true;
    if (h->events_.on_error)
      h->events_.on_error(Error(ErrorCode::kGuest, "guest channel is closed"), -1);
    return h;
  }

  json::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("argv", json::str_array(r.argv, a), a);
  d.AddMember("env", json::str_array(r.env, a), a);
  d.AddMember("cwd", json::str(r.cwd, a), a);
  d.AddMember("user", json::str(r.user, a), a);
  d.AddMember("tty", r.tty, a);
  d.AddMember("rows", r.rows, a);
  d.AddMember("cols", r.cols, a);
  d.AddMember("stdin", r.stdin_open, a);
  d.AddMember("privileged", r.privileged, a);
  if (r.build_root) {
    rapidjson::Value root(rapidjson::kObjectType);
    root.AddMember("lower", json::str_array(r.build_root->lower, a), a);
    root.AddMember("upper", json::str(r.build_root->upper, a), a);
    d.AddMember("build_root", root, a);
  }
  if (!r.builtin.empty()) d.AddMember("builtin", json::str(r.builtin, a), a);
  send(FrameType::kExecOpen, h->stream_, json::to_string(d));
  if (!r.stdin_open) h->to_guest_.close_silently();
  return h;
}

void GuestConnection::pump(GuestStream& s) {
  if (closed_ || s.finished_) return;
  bool sent_any = false;
  while (auto chunk = s.to_guest_.take_chunk()) {
    send(FrameType::kData, s.stream_, guest_protocol::data_payload(StreamFd::kStdin, *chunk));
    sent_any = true;
  }
  if (s.to_guest_.take_eof())
    send(FrameType::kEof, s.stream_, guest_protocol::fd_payload(StreamFd::kStdin));
  if (sent_any && s.to_guest_.backlog() == 0 && s.on_drained_) s.on_drained_();
}

void GuestConnection::shutdown(uint32_t grace_ms) {
  send(FrameType::kShutdown, 0, guest_protocol::u32_payload(grace_ms));
}

void GuestConnection::ping(std::string payload, std::function<void()> on_pong) {
  pongs_.push_back(std::move(on_pong));
  send(FrameType::kPing, 0, payload);
}

void GuestConnection::send(FrameType type, uint32_t stream, std::string_view payload) {
  if (closed_) return;
  uv::write(pipe_.stream(), guest_protocol::encode_frame(type, stream, payload));
}

void GuestConnection::finish_stream(uint32_t stream) {
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  it->second->finished_ = true;
  streams_.erase(it);
}

void GuestConnection::close(const Error& reason) {
  if (closed_) return;
  closed_ = true;
  uv_read_stop(pipe_.stream());
  pipe_.close();
  auto streams = std::move(streams_);
  for (auto& [id, s] : streams) {
    s->finished_ = true;
    s->deliver_lost(reason);
  }
  if (!ready_) {
    if (auto cb = std::move(on_ready_)) cb(reason);
  }
}

void GuestConnection::fail(const Error& e) {
  if (closed_) return;
  auto on_lost = std::move(on_lost_);
  close(e);
  if (on_lost) on_lost(e);
}

}  // namespace matchlock::guest_client
