// The engine's side of the guest channel (engine/src/guest_client): GuestConnection decoding
// whatever a hostile agent sends once the handshake is done, with one stream of each kind open
// (exec 1, port 3, file read 5, file list 7, file stat 9; the host numbers streams 1, 3, 5...).
// The input is the raw byte stream from the "guest" over a socketpair.
// Invariants: every stream's caller hears its end exactly once (exec: on_exit or on_error; port:
// on_closed; files: done), at the latest when the channel is closed; output is never delivered
// after the end; a read never returns more than the limit asked for.
#include <sys/socket.h>
#include <unistd.h>

#include <rapidjson/document.h>

#include <string>

#include "fuzz_check.h"
#include "fuzz_loop.h"
#include "guest_client/guest_connection.h"
#include "guest_protocol/frame_codec.h"

namespace gc = matchlock::guest_client;
namespace gp = matchlock::guest_protocol;
using matchlock::fuzz::shared_loop;

namespace {

constexpr uint64_t kReadLimit = 64;

struct Ends {
  int exec = 0, port = 0, read = 0, list = 0, stat = 0;
  bool exec_output_after_end = false;
};

class Harness {
 public:
  Harness() : loop_(*shared_loop()) {
    int sv[2];
    FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == 0);
    guest_fd_ = sv[1];
    conn_ = gc::GuestConnection::create(&loop_, matchlock::UniqueFd(sv[0]),
                                        [](const matchlock::Error&) {});
  }
  ~Harness() {
    exec_.reset();
    port_.reset();
    read_.reset();
    list_.reset();
    stat_.reset();
    conn_.reset();
    ::close(guest_fd_);
    // A closed connection leaves nothing on the loop for the next input.
    matchlock::fuzz::check_loop_empty();
  }

  bool handshake() {
    bool ready = false;
    gc::GuestConfig config;
    config.hostname = "fuzz";
    config.hosts_file = "127.0.0.1 localhost\n";
    conn_->handshake(config, [&](matchlock::Status st) { ready = st.ok(); });
    send(gp::encode_frame(
        gp::FrameType::kHello, 0,
        "{\"version\":" + std::to_string(gp::kProtocolVersion) + ",\"agent\":\"fuzz\"}"));
    send(gp::encode_frame(gp::FrameType::kReady, 0,
                          "{\"channel_token\":\"" + config_token() + "\"}"));
    turn();
    return ready;
  }

  // The "channel_token" of the CONFIG the host has sent (READY must echo it), "" if none came.
  std::string config_token() {
    gp::FrameDecoder from_host;
    char buf[64 * 1024];
    for (int i = 0; i < 8; ++i) {
      uv_run(&loop_, UV_RUN_NOWAIT);
      ssize_t n;
      while ((n = ::recv(guest_fd_, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
        from_host.feed(std::string_view(buf, static_cast<size_t>(n)));
      }
    }
    std::string token;
    while (auto f = from_host.next()) {
      if (f->type != gp::FrameType::kConfig) continue;
      rapidjson::Document d;
      d.Parse(f->payload.c_str(), f->payload.size());
      if (d.IsObject() && d.HasMember("channel_token") && d["channel_token"].IsString()) {
        token = d["channel_token"].GetString();
      }
    }
    return token;
  }

  void open_streams(Ends& ends) {
    gc::ExecRequest exec;
    exec.argv = {"/bin/true"};
    gc::ExecEvents events;
    events.on_output = [&ends](gp::StreamFd, std::string_view, std::function<void()> consumed) {
      if (ends.exec > 0) ends.exec_output_after_end = true;
      consumed();
    };
    events.on_exit = [&ends](int) { ++ends.exec; };
    events.on_error = [&ends](const matchlock::Error&, int) { ++ends.exec; };
    exec_ = conn_->open_exec(exec, std::move(events));

    gc::PortTarget target;
    target.port = 8080;
    gc::PortEvents port_events;
    port_events.on_data = [](std::string_view, std::function<void()> consumed) { consumed(); };
    port_events.on_closed = [&ends](matchlock::Status) { ++ends.port; };
    port_ = conn_->open_port(target, std::move(port_events));

    read_ = conn_->read_file("/etc/hosts", 0, kReadLimit,
                             [&ends](matchlock::Result<gc::FileReadResult> r) {
                               ++ends.read;
                               if (r.ok()) FUZZ_CHECK(r->data.size() <= kReadLimit);
                             });
    list_ = conn_->list_files("/", [&ends](auto) { ++ends.list; });
    stat_ = conn_->stat_file("/etc", [&ends](auto) { ++ends.stat; });
    turn();
  }

  // Writes without blocking; when the socket is full the host gets a turn to read.
  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(guest_fd_, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        bytes.remove_prefix(static_cast<size_t>(n));
      } else if (errno == EAGAIN) {
        turn();
      } else {
        return;  // the host closed the channel
      }
    }
  }

  // Loop turns until nothing moves, draining what the host writes so it never blocks.
  void turn() {
    char sink[64 * 1024];
    for (int i = 0; i < 8; ++i) {
      uv_run(&loop_, UV_RUN_NOWAIT);
      while (::recv(guest_fd_, sink, sizeof sink, MSG_DONTWAIT) > 0) {
      }
    }
  }

  void close() {
    conn_->close(matchlock::Error(matchlock::ErrorCode::kGuest, "fuzz: channel closed"));
    turn();
  }

 private:
  uv_loop_t& loop_;
  int guest_fd_ = -1;
  std::shared_ptr<gc::GuestConnection> conn_;
  std::shared_ptr<gc::ExecHandle> exec_;
  std::shared_ptr<gc::PortHandle> port_;
  std::shared_ptr<gc::FileHandle> read_, list_, stat_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Ends ends;
  {
    Harness h;
    FUZZ_CHECK(h.handshake());
    h.open_streams(ends);
    h.send(matchlock::fuzz::as_text(data, size));
    h.turn();
    FUZZ_CHECK(ends.exec <= 1 && ends.port <= 1 && ends.read <= 1 && ends.list <= 1 &&
               ends.stat <= 1);
    h.close();
  }
  FUZZ_CHECK(ends.exec == 1 && ends.port == 1 && ends.read == 1 && ends.list == 1 &&
             ends.stat == 1);
  FUZZ_CHECK(!ends.exec_output_after_end);
  return 0;
}
