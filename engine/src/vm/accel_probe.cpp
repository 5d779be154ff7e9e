#include "vm/accel_probe.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "core/file_identity.h"
#include "core/knobs.h"
#include "core/subprocess.h"
#include "core/unique_fd.h"
#include "core/uv.h"
#include "vm/passed_files.h"
#include "vm/qemu_process.h"

namespace matchlock::vm {
namespace {

constexpr const char* kProbeMarker = "MATCHLOCK_PROBE_OK";

// Adds `path`'s identity (core/file_identity.h): a file replaced in place (an upgrade) changes it.
void add_file_identity(std::ostringstream& key, const std::string& path) {
  if (auto id = file_identity(path); id.ok()) key << '|' << id.value();
}

// Identifies the situation a cached verdict is valid for: host kernel, QEMU and guest kernel.
// QEMU counts by its file, not its name: whether nested KVM boots can change with the QEMU
// version (an upgrade from 7.2 to 10 keeps the name), so an upgrade must probe again.
std::string cache_key(const ProbeInputs& in) {
  utsname u{};
  ::uname(&u);
  std::ostringstream key;
  key << u.release << '|' << in.qemu_binary;
  if (auto qemu = find_program(in.qemu_binary); qemu.ok()) add_file_identity(key, *qemu);
  key << '|' << in.kernel.string();
  add_file_identity(key, in.kernel.string());
  return key.str();
}

bool read_cache(const ProbeInputs& in, Accel& out) {
  std::ifstream f(in.cache_file);
  std::string verdict, key;
  if (!(f >> verdict) || !std::getline(f >> std::ws, key)) return false;
  if (key != cache_key(in)) return false;
  if (verdict == "kvm")
    out = Accel::kKvm;
  else if (verdict == "tcg")
    out = Accel::kTcg;
  else
    return false;
  return true;
}

void write_cache(const ProbeInputs& in, Accel a) {
  std::error_code ec;
  std::filesystem::create_directories(in.cache_file.parent_path(), ec);
  auto tmp = in.cache_file;
  tmp += ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << accel_name(a) << ' ' << cache_key(in) << '\n';
  }
  std::filesystem::rename(tmp, in.cache_file, ec);
}

// One probe run: boots the guest kernel under KVM with `matchlock.probe=1`; init prints the
// marker and powers off. Success = marker seen before the deadline.
class KvmProbe : public std::enable_shared_from_this<KvmProbe> {
 public:
  KvmProbe(uv_loop_t* loop, ProbeInputs in, std::function<void(AccelChoice)> done)
      : loop_(loop), in_(std::move(in)), done_(std::move(done)), timer_(loop) {}

  void start(std::shared_ptr<KvmProbe> self) {
    self_ = std::move(self);
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      return finish(Accel::kTcg, "kvm probe: socketpair failed");
    }
    UniqueFd ours(sv[0]), theirs(sv[1]);
    auto argv = probe_argv(in_.qemu_binary, Accel::kKvm, in_.kvm_cpu, in_.kernel, in_.initrd, 0);
    Confinement confinement = plan_confinement();
    confinement.max_file_bytes = file_size_limit(0);  // it writes no file
    auto files = open_passed_files(probe_passed_files(Accel::kKvm, in_.kernel, in_.initrd),
                                   confinement.drop_privileges);
    if (!files.ok()) return finish(Accel::kTcg, "kvm probe: " + files.error().message);
    std::map<int, int> inherit = files->inherit;
    inherit[1] = inherit[2] = theirs.get();
    auto proc =
        QemuProcess::spawn(loop_, argv, inherit, -1, confinement, [this](ExitInfo) { on_exit(); });
    if (!proc.ok()) return finish(Accel::kTcg, "kvm probe: " + proc.error().message);
    proc_ = std::move(proc.value());
    theirs.reset();
    out_.init(loop_, this, uv_pipe_init, 0);
    uv_pipe_open(out_.get(), ours.release());
    uv_read_start(
        out_.stream(),
        [](uv_handle_t*, size_t, uv_buf_t* b) {
          static thread_local char scratch[4096];
          *b = uv_buf_init(scratch, sizeof scratch);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
          auto* self = static_cast<KvmProbe*>(s->data);
          if (!self) return;
          if (n < 0) {
            uv_read_stop(s);
            return;
          }
          self->output_.append(b->base, static_cast<size_t>(n));
          if (self->output_.size() > 65536) self->output_.erase(0, self->output_.size() - 4096);
          if (self->output_.find(kProbeMarker) != std::string::npos) {
            self->finish(Accel::kKvm, "kvm probe booted the guest");
          }
        });
    timer_.start(in_.timeout_ms, [this] {
      finish(Accel::kTcg,
             "kvm probe did not boot within " + std::to_string(in_.timeout_ms) + " ms; using tcg");
    });
  }

 private:
  void on_exit() {
    if (output_.find(kProbeMarker) != std::string::npos) {
      finish(Accel::kKvm, "kvm probe booted the guest");
    } else {
      finish(Accel::kTcg, "kvm probe: QEMU exited without booting; using tcg");
    }
  }

  void finish(Accel a, std::string reason) {
    if (finished_) return;
    finished_ = true;
    timer_.stop();
    write_cache(in_, a);
    auto done = std::move(done_);
    auto keep = std::move(self_);  // released at the end of this scope, after cleanup
    out_.close();
    // Destroying proc_ SIGKILLs and reaps QEMU: a spinning nested-KVM guest never exits alone.
    // Deferred by a loop turn because we may be running inside proc_'s own exit callback.
    uv::defer(loop_, [keep] {});
    done(AccelChoice{a, std::move(reason)});
  }

  uv_loop_t* loop_;
  ProbeInputs in_;
  std::function<void(AccelChoice)> done_;
  uv::Timer timer_;
  uv::Handle<uv_pipe_t> out_;
  std::unique_ptr<QemuProcess> proc_;
  std::string output_;
  bool finished_ = false;
  std::shared_ptr<KvmProbe> self_;
};

}  // namespace

void choose_accelerator(uv_loop_t* loop, const ProbeInputs& inputs,
                        std::function<void(AccelChoice)> done) {
  if (auto forced = knobs::get(knobs::kAccel)) {
    const std::string& f = *forced;
    if (f == "tcg") return done({Accel::kTcg, "MATCHLOCK_ACCEL=tcg"});
    if (f == "kvm") return done({Accel::kKvm, "MATCHLOCK_ACCEL=kvm"});
  }
  UniqueFd kvm(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
  if (!kvm) return done({Accel::kTcg, "/dev/kvm is not usable; using tcg"});
  kvm.reset();
  Accel cached;
  if (read_cache(inputs, cached)) return done({cached, "cached verdict"});
  ProbeInputs in = inputs;
  if (auto cpu = knobs::get(knobs::kKvmProbeCpu)) in.kvm_cpu = *cpu;
  if (auto ms = knobs::milliseconds(knobs::kKvmProbeTimeoutMs)) in.timeout_ms = *ms;
  auto probe = std::make_shared<KvmProbe>(loop, in, std::move(done));
  probe->start(probe);
}

}  // namespace matchlock::vm
