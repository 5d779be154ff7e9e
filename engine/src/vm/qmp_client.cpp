#include "vm/qmp_client.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <sys/socket.h>

#include <vector>

#include "core/json.h"

namespace matchlock::vm {
namespace {

// QMP messages are small; a larger line means something is wrong with the peer.
constexpr size_t kMaxQmpLine = 1 << 20;

}  // namespace

VmStatus parse_query_status(std::string_view json) {
  json::Document d;
  d.Parse(json.data(), json.size());
  VmStatus st;
  if (d.HasParseError() || !d.IsObject()) return st;
  const auto* running = json::member(d, "running");
  st.running = running && running->IsBool() && running->GetBool();
  st.status = json::get_string(d, "status", "unknown");
  return st;
}

QmpClient::QmpClient(uv_loop_t* loop, UniqueFd socket, std::function<void(Status)> on_ready)
    : loop_(loop), on_ready_(std::move(on_ready)) {
  pipe_.init(loop, this, uv_pipe_init, 0);
  if (uv_pipe_open(pipe_.get(), socket.release()) != 0) {
    fail_all(Error(ErrorCode::kVm, "QMP: cannot open socket"));
    return;
  }
  uv_read_start(
      pipe_.stream(),
      [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
        static thread_local char scratch[16384];
        *buf = uv_buf_init(scratch, sizeof scratch);
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        if (auto* self = static_cast<QmpClient*>(s->data)) self->on_read(n, buf);
      });
}

QmpClient::~QmpClient() {
  *alive_ = false;
  pipe_.close();
}

void QmpClient::read_pending_now() {
  uv_os_fd_t fd;
  if (ended_ || uv_fileno(pipe_.handle(), &fd) != 0) return;
  std::weak_ptr<bool> alive = alive_;
  // Bounded: QMP is small; what is left after this many chunks is read by the loop as usual.
  for (int chunk = 0; chunk < 16; ++chunk) {
    char scratch[16384];
    ssize_t n = ::recv(fd, scratch, sizeof scratch, MSG_DONTWAIT);
    if (n <= 0) return;  // nothing pending, or the end: the loop's own read reports that
    uv_buf_t buf = uv_buf_init(scratch, static_cast<unsigned>(n));
    on_read(n, &buf);
    if (alive.expired() || ended_) return;
  }
}

void QmpClient::on_read(ssize_t n, const uv_buf_t* buf) {
  if (n < 0) {
    uv_read_stop(pipe_.stream());
    fail_all(Error(ErrorCode::kVm, "QMP connection closed"));
    return;
  }
  inbuf_.append(buf->base, static_cast<size_t>(n));
  // A reply's callback may destroy this client (a failed boot tears the VM down).
  std::weak_ptr<bool> alive = alive_;
  size_t pos;
  while ((pos = inbuf_.find('\n')) != std::string::npos) {
    std::string line = inbuf_.substr(0, pos);
    inbuf_.erase(0, pos + 1);
    on_message(line);
    if (alive.expired()) return;
  }
  if (inbuf_.size() > kMaxQmpLine) {
    uv_read_stop(pipe_.stream());
    fail_all(Error(ErrorCode::kProtocol, "QMP line too long"));
  }
}

void QmpClient::on_message(const std::string& line) {
  json::Document d;
  d.Parse(line.c_str(), line.size());
  if (d.HasParseError() || !d.IsObject()) return;
  if (!greeted_) {
    if (!d.HasMember("QMP")) return;
    greeted_ = true;
    pending_.push_back([this](Result<std::string> r) {
      ready_ = r.ok();
      auto cb = std::move(on_ready_);
      if (cb) cb(r.ok() ? Status() : Status(r.error()));
    });
    uv::write(pipe_.stream(), "{\"execute\":\"qmp_capabilities\"}\n");
    return;
  }
  if (d.HasMember("event")) {
    if (!d["event"].IsString()) return;
    QmpEvent event{d["event"].GetString()};
    if (const auto* data = json::member(d, "data"); data && data->IsObject()) {
      event.data = json::to_string(*data);
    }
    deliver(std::move(event));
    return;
  }
  if (pending_.empty()) return;
  auto cb = std::move(pending_.front());
  pending_.pop_front();
  if (d.HasMember("return")) {
    cb(json::to_string(d["return"]));
  } else if (d.HasMember("error") && d["error"].IsObject() && d["error"].HasMember("desc") &&
             d["error"]["desc"].IsString()) {
    cb(Error(ErrorCode::kVm, std::string("QMP: ") + d["error"]["desc"].GetString()));
  } else {
    cb(Error(ErrorCode::kProtocol, "QMP: unexpected reply"));
  }
}

void QmpClient::execute(const std::string& command, Reply done) {
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  w.Key("execute");
  w.String(command.c_str(), static_cast<rapidjson::SizeType>(command.size()));
  w.EndObject();
  send(std::string(sb.GetString()) + "\n", std::move(done));
}

void QmpClient::execute(const std::string& command, const std::string& arguments_json, Reply done) {
  json::Document args;
  args.Parse(arguments_json.c_str(), arguments_json.size());
  if (args.HasParseError() || !args.IsObject()) {
    done(Error(ErrorCode::kInvalidArgument,
               "QMP: the arguments of " + command + " are not a JSON object"));
    return;
  }
  json::Document msg(rapidjson::kObjectType);
  auto& a = msg.GetAllocator();
  msg.AddMember("execute", json::str(command, a), a);
  msg.AddMember("arguments", rapidjson::Value(args, a), a);
  send(json::to_string(msg) + "\n", std::move(done));
}

void QmpClient::send(const std::string& line, Reply done) {
  if (!pipe_.initialized() || ended_) {
    done(Error(ErrorCode::kVm, "QMP connection closed"));
    return;
  }
  pending_.push_back(std::move(done));
  uv::write(pipe_.stream(), line);
}

uint64_t QmpClient::subscribe(EventHandler handler) {
  const uint64_t id = next_subscriber_++;
  if (ended_) {
    // Nothing will come: the subscriber learns that at once, on a later turn of the loop.
    uv::defer(loop_, [handler = std::move(handler)] {
      handler(Error(ErrorCode::kVm, "QMP connection closed"));
    });
    return id;
  }
  subscribers_.emplace(id, std::move(handler));
  return id;
}

void QmpClient::unsubscribe(uint64_t id) {
  subscribers_.erase(id);
}

// Each handler is looked up again before it runs, so one may unsubscribe another (or destroy
// this client) from inside its call.
void QmpClient::deliver(Result<QmpEvent> event) {
  std::weak_ptr<bool> alive = alive_;
  std::vector<uint64_t> ids;
  for (const auto& [id, handler] : subscribers_) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = subscribers_.find(id);
    if (it == subscribers_.end()) continue;
    EventHandler handler = it->second;  // a copy: the handler may unsubscribe itself
    handler(event);
    if (alive.expired()) return;
  }
}

void QmpClient::query_status(std::function<void(Result<VmStatus>)> done) {
  execute("query-status", [done = std::move(done)](Result<std::string> r) {
    if (!r.ok()) return done(r.error());
    done(parse_query_status(r.value()));
  });
}

void QmpClient::fail_all(const Error& e) {
  std::weak_ptr<bool> alive = alive_;
  ended_ = true;
  if (on_ready_) {
    auto cb = std::move(on_ready_);
    cb(e);
    if (alive.expired()) return;
  }
  while (!pending_.empty()) {
    auto cb = std::move(pending_.front());
    pending_.pop_front();
    cb(e);
    if (alive.expired()) return;
  }
  // Subscribers hear of the end last, once, and are then forgotten.
  deliver(e);
  if (alive.expired()) return;
  subscribers_.clear();
}

}  // namespace matchlock::vm
