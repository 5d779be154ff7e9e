// The owner's control socket ($MATCHLOCK_HOME/vms/<id>/control.sock, 0600 in a 0700
// directory): the same JSON-RPC as `matchlock rpc`, for many clients at once, each an attached
// Session on the owner's SandboxHost. This is how `matchlock exec/kill/allow-list` reach a
// sandbox they did not boot.
//
// THREAT MODEL: clients are local processes of the same user (the directory is 0700), but may
// still be buggy: garbage, overlong lines or a client vanishing mid-stream cost that client its
// own calls, never the sandbox or the other clients.
#pragma once

#include <uv.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>

#include "core/result.h"
#include "core/uv.h"
#include "rpc/sandbox_host.h"

namespace matchlock::rpc {

class ControlServer : public SandboxObserver, public std::enable_shared_from_this<ControlServer> {
 public:
  // More clients than this are turned away (their connection is closed at once).
  static constexpr size_t kMaxClients = 64;
  // How long when_idle waits for clients that still have lines to read.
  static constexpr uint64_t kIdleWaitMs = 2000;

  // Listens on `socket_path` (replacing a stale socket file) for the host's sandbox.
  static Result<std::shared_ptr<ControlServer>> start(uv_loop_t* loop,
                                                      std::shared_ptr<SandboxHost> host,
                                                      std::filesystem::path socket_path);
  ~ControlServer() override;

  // Stops accepting and removes the socket file; connected clients stay until their sessions
  // end (when the sandbox is closed, right after their last reply).
  void stop();
  size_t client_count() const { return clients_.size(); }
  // Runs once no client is connected any more (at once if none is).
  void when_idle(std::function<void()> fn);

  void on_sandbox_closing() override { stop(); }

 private:
  class Client;
  ControlServer(uv_loop_t* loop, std::shared_ptr<SandboxHost> host, std::filesystem::path path);
  Status listen();
  void on_connection();
  void remove_client(uint64_t serial);

  uv_loop_t* loop_;
  std::shared_ptr<SandboxHost> host_;
  std::filesystem::path path_;
  uv::Handle<uv_pipe_t> listener_;
  std::map<uint64_t, std::shared_ptr<Client>> clients_;
  uint64_t next_serial_ = 1;
  bool listening_ = false;
  std::function<void()> on_idle_;
  std::unique_ptr<uv::Timer> idle_timer_;
};

}  // namespace matchlock::rpc
