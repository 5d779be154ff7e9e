// Each chain the guest kernel queues is one FUSE request (its
// readable part, exactly what /dev/fuse would give) and room for the reply (its writable
// part). The chain waits, keyed by the request's unique id, until the FuseServer answers;
// requests that get no answer (FORGET, BATCH_FORGET, INTERRUPT, and everything on the
// high-priority queue) go back to the guest at once, empty.
#include "vfs/vfs_service.h"

#include <linux/fuse.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <unordered_map>

#include "core/log.h"
#include "vfs/fuse_server.h"
#include "vfs/io_vectors.h"
#include "virtio/vhost_user_backend.h"

namespace matchlock::vfs {
namespace {

using virtio::ChainLimits;
using virtio::ChainRef;
using virtio::DeviceState;
using virtio::VhostUserBackend;
using virtio::Virtqueue;

constexpr uint32_t kHiprioQueue = 0;

// What a migration carries of the file server. Guests are saved at their HELLO, before any
// program has used the workspace: either nothing is mounted ("no FUSE session"), or the boot has
// mounted the workspace and the session holds nothing but its root ("empty session": no node
// looked up, no file open, no request in flight). Either is all a restored guest's kernel can
// hold of it, so the new server starts in the same state. Anything more cannot be carried, and
// the save fails. A versioned record, so a later engine that saves more can tell an old save
// from a new one.
constexpr std::string_view kStateMagic = "MLVFS";
constexpr char kStateVersion = 1;
constexpr char kStateNoSession = 0;
constexpr char kStateEmptySession = 1;

std::string state_record(char session) {
  std::string r(kStateMagic);
  r += kStateVersion;
  r += session;
  return r;
}

// The backend copies this much of each request: the headers of a WRITE. The rest of a WRITE
// (its data) is written to the file from guest memory; any other request is small and is
// copied whole before it is parsed.
constexpr size_t kInlineRequestBytes = sizeof(fuse_in_header) + sizeof(fuse_write_in);

bool has_no_reply(uint32_t opcode) {
  return opcode == FUSE_FORGET || opcode == FUSE_BATCH_FORGET || opcode == FUSE_INTERRUPT;
}

class VirtioFsService : public VfsService {
 public:
  VirtioFsService(MountTable mounts, std::string workspace, std::shared_ptr<VfsHooks> hooks,
                  std::function<void(const Error&)> on_lost)
      : mounts_(std::move(mounts)),
        workspace_(std::move(workspace)),
        hooks_(std::move(hooks)),
        server_(new_session()),
        on_lost_(std::move(on_lost)) {}
  ~VirtioFsService() override { close(); }

  matchlock::Status start(uv_loop_t* loop, UniqueFd socket) {
    std::weak_ptr<int> alive = alive_;
    virtio::VhostUserDevice device;
    device.name = "virtio-fs";
    device.queues = 1 + kVirtioFsRequestQueues;  // hiprio, then the request queues
    device.limits = ChainLimits{kMaxVfsMessage, kInlineRequestBytes};
    device.on_chain = [this](ChainRef chain) { on_chain(std::move(chain)); };
    device.on_lost = [this, alive](const Error& e) {
      if (!alive.expired()) lost(e);
    };
    device.device_state = DeviceState{[this] { return save_state(); },
                                      [this](std::string_view bytes) { return load_state(bytes); }};
    auto backend = VhostUserBackend::start(loop, std::move(socket), std::move(device));
    if (!backend.ok()) return backend.error();
    backend_ = std::move(backend.value());
    return matchlock::Status();
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    server_->close_handles();
    waiting_.clear();
    if (backend_) backend_->close();
  }

 private:
  void on_chain(ChainRef ref) {
    std::string message = std::move(ref.chain.readable);
    fuse_in_header h{};
    if (message.size() < sizeof(h)) {
      backend_->complete(ref, {});
      return;
    }
    std::memcpy(&h, message.data(), sizeof(h));
    // File data stays in the guest's RAM: a WRITE's payload, a READ's reply room. Both are
    // used only during handle() (the memory table may change when the loop runs again).
    InPlaceData in_place;
    auto rest = Virtqueue::map(backend_->memory(), ref.chain.readable_rest);
    if (!rest) {
      backend_->complete(ref, {});
      return;
    }
    if (h.opcode == FUSE_WRITE) {
      in_place.write_payload = std::move(*rest);
    } else {
      message += gather(*rest);
    }
    if (h.opcode == FUSE_READ) {
      auto room = Virtqueue::map(backend_->memory(), ref.chain.writable, sizeof(fuse_out_header));
      if (room) in_place.reply_room = std::move(*room);
    }
    if (h.opcode == FUSE_INIT && server_->initialized()) {
      // The device outlives mounts: a remount (or a driver rebound after a reset) starts a new
      // FUSE session, as a new /dev/fuse connection would. The old one's state goes.
      log::debug("virtio-fs: a new FUSE session");
      server_->close_handles();
      server_ = new_session();
      waiting_.clear();
    }
    if (ref.queue == kHiprioQueue || has_no_reply(h.opcode)) {
      // Only forgets belong on the high-priority queue; nothing there is answered.
      if (h.opcode == FUSE_FORGET || h.opcode == FUSE_BATCH_FORGET) {
        server_->handle(std::move(message));
      }
      backend_->complete(ref, {});
      return;
    }
    if (waiting_.count(h.unique)) {
      // Two requests with one id: the kernel never does this, so the second one is refused.
      log::warn("virtio-fs: the guest reused a request id in flight");
      backend_->complete(ref, {});
      return;
    }
    waiting_.emplace(h.unique, std::move(ref));
    server_->handle(std::move(message), in_place);  // may answer at once (on_reply) or later
  }

  void on_reply(std::string reply, size_t placed) {
    if (closed_ || reply.size() < sizeof(fuse_out_header)) return;
    fuse_out_header h{};
    std::memcpy(&h, reply.data(), sizeof(h));
    auto it = waiting_.find(h.unique);
    if (it == waiting_.end()) return;  // an answer to a request that asked for none
    ChainRef ref = std::move(it->second);
    waiting_.erase(it);
    if (backend_->complete(ref, reply, placed)) return;
    // The guest left less room than the answer needs: it gets EIO instead of an overflow.
    fuse_out_header error{sizeof(fuse_out_header), -EIO, h.unique};
    std::string_view bytes(reinterpret_cast<const char*>(&error), sizeof(error));
    if (!backend_->complete(ref, bytes)) backend_->complete(ref, {});
  }

  // A FUSE session (open files, node ids the guest holds) cannot be saved: the save fails
  // rather than restore a guest whose mount would then refer to nothing.
  bool has_session() const { return server_->initialized() || !waiting_.empty(); }

  Result<std::string> save_state() const {
    if (!waiting_.empty()) {
      return Error(ErrorCode::kVm, "the guest has file requests in flight; they cannot be saved");
    }
    if (!server_->initialized()) return state_record(kStateNoSession);
    if (server_->nodes() == 1 && server_->open_handles() == 0) {
      return state_record(kStateEmptySession);
    }
    return Error(
        ErrorCode::kVm,
        "the guest has used its workspace (files looked up or open); that cannot be saved");
  }

  matchlock::Status load_state(std::string_view bytes) {
    const bool empty_session = bytes == state_record(kStateEmptySession);
    if (bytes != state_record(kStateNoSession) && !empty_session) {
      return Error(ErrorCode::kProtocol, "not a virtio-fs state this engine writes");
    }
    if (has_session()) return Error(ErrorCode::kVm, "a FUSE session is already open");
    if (empty_session) server_->resume_empty_session();
    return matchlock::Status();
  }

  void lost(const Error& e) {
    if (closed_) return;
    close();
    auto cb = std::move(on_lost_);
    if (cb) cb(e);  // may destroy us: nothing after it
  }

  std::unique_ptr<FuseServer> new_session() {
    return std::make_unique<FuseServer>(
        mounts_, workspace_, hooks_,
        [this](std::string reply, size_t placed) { on_reply(std::move(reply), placed); });
  }

  const MountTable mounts_;  // each session's server gets a copy (providers are shared)
  const std::string workspace_;
  const std::shared_ptr<VfsHooks> hooks_;
  std::unique_ptr<FuseServer> server_;
  std::function<void(const Error&)> on_lost_;
  std::unique_ptr<VhostUserBackend> backend_;
  std::unordered_map<uint64_t, ChainRef> waiting_;  // by fuse_in_header.unique
  bool closed_ = false;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace

Result<std::unique_ptr<VfsService>> VfsService::start(uv_loop_t* loop, UniqueFd vhost_user_socket,
                                                      MountTable mounts, std::string workspace,
                                                      std::shared_ptr<VfsHooks> hooks,
                                                      std::function<void(const Error&)> on_lost) {
  auto s = std::make_unique<VirtioFsService>(std::move(mounts), std::move(workspace),
                                             std::move(hooks), std::move(on_lost));
  if (auto st = s->start(loop, std::move(vhost_user_socket)); !st.ok()) return st.error();
  return std::unique_ptr<VfsService>(std::move(s));
}

}  // namespace matchlock::vfs
