#include "rpc/sandbox_vm.h"

namespace matchlock::rpc {
namespace {

class SandboxExec : public ExecPort {
 public:
  explicit SandboxExec(std::shared_ptr<sandbox::ExecHandle> h) : h_(std::move(h)) {}
  void write_stdin(std::string bytes) override { h_->write_stdin(std::move(bytes)); }
  void close_stdin() override { h_->close_stdin(); }
  void resize(uint16_t rows, uint16_t cols) override { h_->resize(rows, cols); }
  void cancel(uint32_t grace_ms) override { h_->cancel(grace_ms); }
  size_t stdin_backlog() const override { return h_->stdin_backlog(); }
  void set_on_stdin_drained(std::function<void()> fn) override {
    h_->set_on_stdin_drained(std::move(fn));
  }

 private:
  std::shared_ptr<sandbox::ExecHandle> h_;
};

class SandboxVm : public VmPort {
 public:
  explicit SandboxVm(std::shared_ptr<sandbox::Sandbox> s) : s_(std::move(s)) {}
  std::string id() const override { return s_->id(); }
  std::vector<std::string> entrypoint_command() const override { return s_->compose_command({}); }
  std::shared_ptr<ExecPort> exec(const sandbox::ExecSpec& spec,
                                 sandbox::ExecEvents events) override {
    return std::make_shared<SandboxExec>(s_->exec(spec, std::move(events)));
  }
  void close(uint64_t graceful_ms, std::function<void(Status)> done) override {
    s_->close(graceful_ms, std::move(done));
  }
  void set_stop_reason(const std::string& reason) override { s_->set_stop_reason(reason); }
  void set_on_terminated(std::function<void(const Error&)> fn) override {
    s_->set_on_terminated(std::move(fn));
  }
  Result<sandbox::AllowListChange> allow_list_add(const std::vector<std::string>& h) override {
    return s_->allow_list_add(h);
  }
  Result<sandbox::AllowListChange> allow_list_remove(const std::vector<std::string>& h) override {
    return s_->allow_list_remove(h);
  }
  Result<std::unique_ptr<sandbox::PortForwarder>> forward_ports(
      const std::vector<sandbox::PortForwardRule>& rules) override {
    return s_->forward_ports(rules);
  }
  void read_file(const std::string& path, uint64_t offset, uint64_t limit,
                 std::function<void(Result<sandbox::GuestFileChunk>)> done) override {
    s_->read_file(path, offset, limit, std::move(done));
  }
  void write_file(sandbox::GuestFileWrite request, std::function<void(Status)> done) override {
    s_->write_file(std::move(request), std::move(done));
  }
  void list_files(const std::string& path,
                  std::function<void(Result<std::vector<sandbox::GuestFileInfo>>)> done) override {
    s_->list_files(path, std::move(done));
  }
  void stat_file(const std::string& path,
                 std::function<void(Result<std::optional<sandbox::GuestFileInfo>>)> done) override {
    s_->stat_file(path, std::move(done));
  }
  void make_dir(sandbox::GuestMakeDir request, std::function<void(Status)> done) override {
    s_->make_dir(std::move(request), std::move(done));
  }
  void remove_file(const std::string& path, bool recursive,
                   std::function<void(Status)> done) override {
    s_->remove_file(path, recursive, std::move(done));
  }
  void rename_file(const std::string& old_path, const std::string& new_path,
                   std::function<void(Status)> done) override {
    s_->rename_file(old_path, new_path, std::move(done));
  }
  void set_on_event(std::function<void(const sandbox::SandboxEvent&)> fn) override {
    s_->set_on_event(std::move(fn));
  }

 private:
  std::shared_ptr<sandbox::Sandbox> s_;
};

}  // namespace

std::shared_ptr<VmPort> sandbox_vm(std::shared_ptr<sandbox::Sandbox> sandbox) {
  return std::make_shared<SandboxVm>(std::move(sandbox));
}

VmFactory sandbox_vm_factory(uv_loop_t* loop) {
  return [loop](sandbox::SandboxOptions options, VmCreateCallback done) {
    sandbox::Sandbox::create(
        loop, std::move(options),
        [done = std::move(done)](Result<std::shared_ptr<sandbox::Sandbox>> r) {
          if (!r.ok()) return done(r.error());
          done(std::shared_ptr<VmPort>(std::make_shared<SandboxVm>(std::move(r.value()))));
        });
  };
}

}  // namespace matchlock::rpc
