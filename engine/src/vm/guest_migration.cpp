// One migration (save or load) as a small self-owned state machine: it subscribes to QMP
// events first (QEMU may report the end before it answers the command that started it), runs
// its commands in order, then waits for the MIGRATION event that ends it. It owns itself until
// it finishes (done, error or timeout); a QMP client destroyed meanwhile ends it at the timeout.
#include "vm/guest_migration.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/json.h"
#include "core/uv.h"
#include "vm/qemu_command.h"

namespace matchlock::vm {
namespace {

// QEMU throttles migration to 128 MiB/s by default; a saved guest is stopped, so there is
// nothing to be gentle with. 1 TiB/s is "unlimited" without risking overflow inside QEMU.
constexpr int64_t kUnlimitedBandwidth = int64_t{1} << 40;

struct Command {
  std::string name;
  std::string arguments;  // JSON object, empty for none
};

std::string to_json(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  v.Accept(w);
  return sb.GetString();
}

std::string events_capability() {
  return R"({"capabilities":[{"capability":"events","state":true},{"capability":"mapped-ram","state":true}]})";
}

// The file as a structured channel, never a "file:PATH" URI: QEMU parses options after a comma
// in a URI, so a path with one (a MATCHLOCK_HOME like "/srv/a,b") would be misread. For the
// incoming side, "exit-on-error": false so a bad file leaves QEMU up to say why (QEMU >= 9.1).
std::string file_channel_arguments(const std::filesystem::path& path, bool incoming) {
  json::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  rapidjson::Value addr(rapidjson::kObjectType);
  addr.AddMember("transport", "file", a);
  addr.AddMember("filename", json::str(path.string(), a), a);
  addr.AddMember("offset", 0, a);
  rapidjson::Value channel(rapidjson::kObjectType);
  channel.AddMember("channel-type", "main", a);
  channel.AddMember("addr", addr, a);
  rapidjson::Value channels(rapidjson::kArrayType);
  channels.PushBack(channel, a);
  d.AddMember("channels", channels, a);
  if (incoming) d.AddMember("exit-on-error", false, a);
  return to_json(d);
}

class MigrationRun : public std::enable_shared_from_this<MigrationRun> {
 public:
  MigrationRun(QmpClient& qmp, std::string what, std::function<void(Status)> done)
      : qmp_(&qmp),
        qmp_alive_(qmp.lifetime()),
        loop_(qmp.loop()),
        what_(std::move(what)),
        done_(std::move(done)),
        timer_(loop_) {}

  void start(std::vector<Command> commands, std::chrono::milliseconds timeout,
             bool cancel_on_timeout) {
    self_ = shared_from_this();
    cancel_on_timeout_ = cancel_on_timeout;
    timer_.start(static_cast<uint64_t>(timeout.count()), [this] { on_timeout(); });
    std::weak_ptr<MigrationRun> weak = weak_from_this();
    subscription_ = qmp_->subscribe([weak](Result<QmpEvent> event) {
      if (auto self = weak.lock()) self->on_event(event);
    });
    commands_ = std::move(commands);
    next_command();
  }

 private:
  bool qmp_gone() const { return qmp_alive_.expired(); }

  void next_command() {
    if (finished_ || qmp_gone()) return;
    if (commands_.empty()) {
      started_ = true;  // the last command (migrate / migrate-incoming) was accepted
      return maybe_finish();
    }
    Command c = std::move(commands_.front());
    commands_.erase(commands_.begin());
    std::weak_ptr<MigrationRun> weak = weak_from_this();
    auto reply = [weak, name = c.name](Result<std::string> r) {
      auto self = weak.lock();
      if (!self || self->finished_) return;
      if (!r.ok())
        return self->finish(
            Error(ErrorCode::kVm, self->what_ + " failed at " + name + ": " + r.error().message));
      self->next_command();
    };
    if (c.arguments.empty()) {
      qmp_->execute(c.name, std::move(reply));
    } else {
      qmp_->execute(c.name, c.arguments, std::move(reply));
    }
  }

  void on_event(const Result<QmpEvent>& event) {
    if (finished_) return;
    if (!event.ok()) {
      return finish(Error(ErrorCode::kVm,
                          what_ + ": QEMU's QMP connection ended (" + event.error().message + ")"));
    }
    if (event.value().name != "MIGRATION") return;
    json::Document d;
    d.Parse(event.value().data.c_str(), event.value().data.size());
    if (d.HasParseError() || !d.IsObject()) return;
    const std::string status = json::get_string(d, "status");
    if (status == "completed") {
      completed_ = true;
      maybe_finish();
    } else if (status == "failed" || status == "cancelled") {
      report_failure(status);
    }
  }

  void maybe_finish() {
    if (started_ && completed_) finish(Status());
  }

  // QEMU's own reason is in query-migrate's error-desc.
  void report_failure(const std::string& status) {
    failing_ = true;
    std::weak_ptr<MigrationRun> weak = weak_from_this();
    qmp_->execute("query-migrate", [weak, status](Result<std::string> r) {
      auto self = weak.lock();
      if (!self || self->finished_) return;
      std::string why = "migration " + status;
      if (r.ok()) {
        json::Document d;
        d.Parse(r.value().c_str(), r.value().size());
        if (!d.HasParseError() && d.IsObject()) {
          why = json::get_string(d, "error-desc", why);
        }
      }
      self->finish(Error(ErrorCode::kVm, self->what_ + " failed: " + why));
    });
  }

  void on_timeout() {
    if (finished_) return;
    if (cancel_on_timeout_ && !qmp_gone())
      qmp_->execute("migrate_cancel", [](Result<std::string>) {});
    finish(Error(ErrorCode::kVm, what_ + " did not finish in time" +
                                     (failing_ ? " (QEMU reported a failure)" : "")));
  }

  // Ends the run once: the timer and subscription go, `done` runs, and the run frees itself on
  // a later turn of the loop (it may be inside its own timer's callback now).
  void finish(Status status) {
    if (finished_) return;
    finished_ = true;
    timer_.stop();
    if (!qmp_gone()) qmp_->unsubscribe(subscription_);
    uv::defer(loop_, [self = std::move(self_)] {});
    auto done = std::move(done_);
    done(std::move(status));
  }

  QmpClient* qmp_;
  std::weak_ptr<bool> qmp_alive_;
  uv_loop_t* loop_;
  std::string what_;
  std::function<void(Status)> done_;
  uv::Timer timer_;
  std::shared_ptr<MigrationRun> self_;
  std::vector<Command> commands_;
  uint64_t subscription_ = 0;
  bool cancel_on_timeout_ = false;
  bool started_ = false;
  bool completed_ = false;
  bool failing_ = false;
  bool finished_ = false;
};

std::optional<Error> check_path(const std::filesystem::path& path) {
  if (path.empty()) return invalid_argument("a guest state file's path must not be empty");
  return std::nullopt;
}

}  // namespace

void save_guest_state(QmpClient& qmp, const std::filesystem::path& path,
                      std::chrono::milliseconds timeout, std::function<void(Status)> done) {
  if (auto bad = check_path(path)) return done(*bad);
  std::vector<Command> commands = {
      {"stop", ""},
      {"migrate-set-capabilities", events_capability()},
      {"migrate-set-parameters",
       R"({"max-bandwidth":)" + std::to_string(kUnlimitedBandwidth) + "}"},
      {"migrate", file_channel_arguments(path, false)},
  };
  auto run = std::make_shared<MigrationRun>(qmp, "saving the guest", std::move(done));
  run->start(std::move(commands), timeout, true);
}

void load_guest_state(QmpClient& qmp, const std::filesystem::path& path,
                      std::chrono::milliseconds timeout, std::function<void(Status)> done) {
  if (auto bad = check_path(path)) return done(*bad);
  std::vector<Command> commands = {
      {"migrate-set-capabilities", events_capability()},
      {"migrate-incoming", file_channel_arguments(path, true)},
  };
  auto run = std::make_shared<MigrationRun>(qmp, "loading the guest", std::move(done));
  run->start(std::move(commands), timeout, false);
}

namespace {

// Wraps `done`: first QMP remove-fd of `fdset`, then `done` with the migration's status, or
// the removal's failure after a successful migration.
std::function<void(Status)> then_remove_fd_set(QmpClient& qmp, int fdset,
                                               std::function<void(Status)> done) {
  return [qmp = &qmp, alive = qmp.lifetime(), fdset, done = std::move(done)](Status migrated) {
    if (alive.expired()) return done(std::move(migrated));
    qmp->execute(
        "remove-fd", R"({"fdset-id":)" + std::to_string(fdset) + "}",
        [migrated, done, fdset](Result<std::string> removed) mutable {
          if (migrated.ok() && !removed.ok()) {
            return done(Error(ErrorCode::kVm, "remove QEMU's fd set " + std::to_string(fdset) +
                                                  ": " + removed.error().message));
          }
          done(std::move(migrated));
        });
  };
}

}  // namespace

void save_guest_state_to_fd_set(QmpClient& qmp, int fdset, std::chrono::milliseconds timeout,
                                std::function<void(Status)> done) {
  save_guest_state(qmp, fdset_path(fdset), timeout,
                   then_remove_fd_set(qmp, fdset, std::move(done)));
}

void load_guest_state_from_fd_set(QmpClient& qmp, int fdset, std::chrono::milliseconds timeout,
                                  std::function<void(Status)> done) {
  load_guest_state(qmp, fdset_path(fdset), timeout,
                   then_remove_fd_set(qmp, fdset, std::move(done)));
}

namespace {

// QEMU sends the "completed" event from its migration thread and finalises the migration in a
// bottom half after it; a `cont` in between is refused with "Migration is not finalized yet".
// That refusal (and only it) is retried every millisecond until the deadline. The run owns
// itself while a `cont` is in flight; between attempts the timer holds only a weak reference,
// and `self_` keeps it alive.
class ResumeRun : public std::enable_shared_from_this<ResumeRun> {
 public:
  ResumeRun(QmpClient& qmp, std::chrono::milliseconds timeout, std::function<void(Status)> done)
      : qmp_(&qmp),
        qmp_alive_(qmp.lifetime()),
        loop_(qmp.loop()),
        deadline_(std::chrono::steady_clock::now() + timeout),
        done_(std::move(done)),
        timer_(loop_) {}

  void attempt() {
    self_ = shared_from_this();
    if (qmp_alive_.expired()) {
      return finish(Error(ErrorCode::kVm, "QEMU's QMP connection ended before the guest resumed"));
    }
    std::weak_ptr<ResumeRun> weak = weak_from_this();
    qmp_->execute("cont", [weak](Result<std::string> r) {
      if (auto self = weak.lock()) self->on_reply(r);
    });
  }

 private:
  void on_reply(const Result<std::string>& r) {
    if (r.ok()) return finish(Status());
    const bool not_final = r.error().message.find("not finalized") != std::string::npos;
    if (!not_final || std::chrono::steady_clock::now() >= deadline_) return finish(r.error());
    std::weak_ptr<ResumeRun> weak = weak_from_this();
    timer_.start(1, [weak] {
      if (auto self = weak.lock()) self->attempt();
    });
  }

  void finish(Status st) {
    timer_.stop();
    uv::defer(loop_, [self = std::move(self_)] {});  // freed outside its own callbacks
    if (auto done = std::exchange(done_, nullptr)) done(std::move(st));
  }

  QmpClient* qmp_;
  std::weak_ptr<bool> qmp_alive_;
  uv_loop_t* loop_;
  std::chrono::steady_clock::time_point deadline_;
  std::function<void(Status)> done_;
  uv::Timer timer_;
  std::shared_ptr<ResumeRun> self_;
};

}  // namespace

void resume_after_save(QmpClient& qmp, std::chrono::milliseconds timeout,
                       std::function<void(Status)> done) {
  std::make_shared<ResumeRun>(qmp, timeout, std::move(done))->attempt();
}

}  // namespace matchlock::vm
