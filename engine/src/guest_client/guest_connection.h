// Host side of the guest channel (protocol in guest/channel/protocol.h): the boot handshake and
// multiplexed exec, port and file streams with credit-based flow control.
//
// THREAT MODEL: everything read from the socket comes from the guest and is hostile. Frames are
// bounded by FrameDecoder; a guest that sends more output than it was granted credit for, or a
// malformed frame, gets its channel closed (logged), never a crash or unbounded buffering.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/unique_fd.h"
#include "core/uv.h"
#include "guest_client/file_stream.h"
#include "guest_client/guest_stream.h"
#include "guest_client/port_stream.h"
#include "guest_protocol/frame_codec.h"

namespace matchlock::guest_client {

// eth0's static configuration (CONFIG "network"); absent when the sandbox has no NIC.
struct GuestNetwork {
  std::string address;  // IPv4
  int prefix = 24;
  std::string gateway;
  int mtu = 1500;
};

// A data disk the guest mounts (CONFIG "disks"): the virtio-blk device with this serial, ext4,
// at `path`. A disk that fails to mount fails the boot.
struct GuestDisk {
  std::string serial;
  std::string path;
  bool readonly = false;
};

// Per-sandbox settings applied by the guest after HELLO (the CONFIG frame).
struct GuestConfig {
  std::string hostname;
  std::string hosts_file;                  // full /etc/hosts text
  std::optional<std::string> resolv_conf;  // full /etc/resolv.conf text; absent = leave as is
  std::optional<GuestNetwork> network;
  // Interception mode: the sandbox CA's certificate (PEM, never a key) for the guest's trust
  // store; "" = none. Sent as CONFIG "ca_certificate".
  std::string ca_certificate;
  // Where the guest mounts the virtio-fs workspace (CONFIG "workspace"); "" = no workspace.
  std::string workspace;
  std::vector<GuestDisk> disks;  // mounted before the workspace
  // The VM was restored from a saved boot (CONFIG "restored"): the guest drops the upper disk's
  // cached blocks and re-probes its data disks.
  bool restored = false;
};

struct ExecRequest {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "K=V"; exactly the process environment
  std::string cwd;
  std::string user;  // "" = root
  bool tty = false;
  uint16_t rows = 24, cols = 80;
  bool stdin_open = false;  // false: the process reads /dev/null
  bool privileged = false;
  // EXEC_OPEN "build_root" (sent when set) and "builtin" (sent when not empty).
  struct BuildRoot {
    std::vector<std::string> lower;
    std::string upper;
  };
  std::optional<BuildRoot> build_root;
  std::string builtin;
};

struct ExecEvents {
  std::function<void(int pid)> on_started;
  // `consumed` must be called once the bytes have been passed on; it returns credit to the guest,
  // so a slow consumer slows the guest process down instead of growing host buffers.
  std::function<void(guest_protocol::StreamFd fd, std::string_view bytes,
                     std::function<void()> consumed)>
      on_output;
  std::function<void(guest_protocol::StreamFd fd)> on_eof;
  std::function<void(int exit_code)> on_exit;
  // The process could not start (exit_code is what a shell would report, e.g. 127), or the
  // channel was lost (exit_code -1). Exactly one of on_exit / on_error is called.
  std::function<void(const Error& error, int exit_code)> on_error;
};

// The caller's handle on one running exec. Methods are no-ops once the exec has finished.
class ExecHandle : public GuestStream {
 public:
  ExecHandle() : GuestStream(Kind::kExec) {}

  void write_stdin(std::string bytes);
  void close_stdin();
  void resize(uint16_t rows, uint16_t cols);
  void signal(int signo);
  void cancel(uint32_t grace_ms);
  // Bytes accepted by write_stdin but not yet sent to the guest (waiting for credit).
  size_t stdin_backlog() const { return queued_bytes(); }
  void set_on_stdin_drained(std::function<void()> fn) { on_drained_ = std::move(fn); }

 private:
  friend class GuestConnection;
  void deliver_bytes(guest_protocol::StreamFd fd, std::string_view bytes,
                     std::function<void()> consumed) override;
  void deliver_eof(guest_protocol::StreamFd fd) override;
  void deliver_lost(const Error& reason) override;

  bool tty_ = false;
  ExecEvents events_;
};

class GuestConnection : public std::enable_shared_from_this<GuestConnection> {
 public:
  // `on_lost` fires once if the channel fails (guest closed it, or sent garbage).
  static std::shared_ptr<GuestConnection> create(uv_loop_t* loop, UniqueFd socket,
                                                 std::function<void(const Error&)> on_lost);
  ~GuestConnection();

  // Waits for the guest's HELLO, sends HELLO + CONFIG, and reports READY (or the guest's error).
  void handshake(GuestConfig config, std::function<void(Status)> on_ready);
  // Warm starts. Before handshake(): the guest's first HELLO is not answered until `gate` calls
  // the function it is given (the boot saves the guest meanwhile, so the saved guest is one
  // that has said HELLO and waits for the host's).
  void defer_hello_reply(std::function<void(std::function<void()> reply)> gate);
  // A guest restored from such a save already said HELLO, to the host that saved it: answer as
  // if it had just said it again (the version was checked then; the save's key pins the agent).
  void resume_restored_guest();
  std::shared_ptr<ExecHandle> open_exec(const ExecRequest& request, ExecEvents events);
  // Opens a TCP connection to `target` inside the guest, relayed by the agent. A closed channel
  // or an invalid target is reported through events.on_closed before this returns.
  std::shared_ptr<PortHandle> open_port(const PortTarget& target, PortEvents events);
  // File streams (file_stream.h): any guest path, as root. `done` is called exactly once, maybe
  // before these return (a closed channel, an invalid path). The connection keeps the stream
  // alive until then; the handle only serves to abandon it.
  std::shared_ptr<FileHandle> read_file(const std::string& path, uint64_t offset, uint64_t limit,
                                        FileReadDone done);
  std::shared_ptr<FileHandle> write_file(const FileWriteRequest& request, std::string data,
                                         FileWriteDone done);
  std::shared_ptr<FileHandle> list_files(const std::string& path, FileListDone done);
  // file_ops_stream.cpp
  std::shared_ptr<FileHandle> stat_file(const std::string& path, FileStatDone done);
  std::shared_ptr<FileHandle> make_dir(const MakeDirRequest& request, FileOpDone done);
  std::shared_ptr<FileHandle> remove_file(const std::string& path, bool recursive, FileOpDone done);
  std::shared_ptr<FileHandle> rename_file(const std::string& old_path, const std::string& new_path,
                                          FileOpDone done);
  // Asks the guest to stop its processes, sync and power off.
  void shutdown(uint32_t grace_ms);
  void ping(std::string payload, std::function<void()> on_pong);
  // Closes the channel; running execs and open port streams fail with `reason`.
  void close(const Error& reason);
  // The channel was lost to something the connection cannot see itself (the port was reopened
  // in the guest): closes it as close() does, and reports `reason` to `on_lost`.
  void lose(const Error& reason) { fail(reason); }
  // Runs before each chunk of guest bytes is decoded; if it closes the connection, the chunk is
  // dropped. The sandbox reads QEMU's pending events there, so bytes written after the port was
  // taken over are never taken for the agent's.
  void set_read_gate(std::function<void()> gate) { read_gate_ = std::move(gate); }

  bool ready() const { return ready_; }
  const std::string& agent_version() const { return agent_; }

 private:
  friend class GuestStream;
  friend class ExecHandle;
  friend class PortHandle;
  friend class FileHandle;
  GuestConnection() = default;
  void start(uv_loop_t* loop, UniqueFd socket, std::function<void(const Error&)> on_lost);
  void on_read(ssize_t n, const uv_buf_t* buf);
  void on_frame(guest_protocol::Frame& f);
  void on_control_frame(guest_protocol::Frame& f);
  // DATA, EOF and CREDIT: the same rules on every kind of stream.
  void on_flow_frame(guest_protocol::Frame& f, const std::shared_ptr<GuestStream>& s);
  void on_exec_frame(guest_protocol::Frame& f, const std::shared_ptr<ExecHandle>& h);
  void on_port_frame(guest_protocol::Frame& f,
                     const std::shared_ptr<PortHandle>& h);  // port_stream.cpp
  void on_file_frame(guest_protocol::Frame& f,
                     const std::shared_ptr<FileHandle>& h);  // file_stream.cpp
  // Registers and opens a file stream, or completes it at once when the channel is closed or
  // a path is not absolute. False when it was completed.
  bool open_file_stream(const std::shared_ptr<FileHandle>& h,
                        std::initializer_list<std::string_view> paths,
                        guest_protocol::FrameType type, std::string body);
  void send(guest_protocol::FrameType type, uint32_t stream, std::string_view payload);
  void send_config();
  void answer_hello();
  uint32_t register_stream(const std::shared_ptr<GuestStream>& s);
  // Sends the host -> guest bytes (and EOF) that the stream's credit allows.
  void pump(GuestStream& s);
  void finish_stream(uint32_t stream);
  void fail(const Error& e);

  uv::Handle<uv_pipe_t> pipe_;
  guest_protocol::FrameDecoder decoder_;
  std::function<void(const Error&)> on_lost_;
  std::function<void(Status)> on_ready_;
  std::optional<GuestConfig> config_;
  // CONFIG's "channel_token" for this connection (drawn with the first CONFIG); READY must echo it.
  std::string channel_token_;
  std::function<void()> read_gate_;
  bool hello_seen_ = false;
  std::function<void(std::function<void()>)> hello_gate_;  // defer_hello_reply()
  bool hello_gate_closed_ = false;                         // the gate has the HELLO now
  bool ready_ = false;
  bool closed_ = false;
  std::string agent_;
  uint32_t next_stream_ = 1;
  std::map<uint32_t, std::shared_ptr<GuestStream>> streams_;
  std::deque<std::function<void()>> pongs_;
  std::unique_ptr<char[]> read_buf_;
};

}  // namespace matchlock::guest_client
