#include "net/policy/plugins/external_plugin.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <deque>

#include "core/ascii.h"
#include "core/json.h"
#include "core/unix_line_call.h"
#include "core/uv.h"
#include "net/policy/plugin_registry.h"
#include "net/policy/request_target.h"

namespace matchlock::net::policy {

// The child and the one question in flight. Callbacks reach it through the handles' data
// pointers (cleared when a handle closes) or weak references.
struct ExternalPlugin::Process : std::enable_shared_from_this<Process> {
  using Done = std::function<void(Result<std::string>)>;
  struct Question {
    uint64_t id = 0;
    std::string line;
    Done done;
  };

  explicit Process(uv_loop_t* l, std::string plugin_name, uint32_t timeout)
      : loop(l), name(std::move(plugin_name)), timeout_ms(timeout), timer(l) {}

  Status spawn(const std::vector<std::string>& argv);
  void ask(std::function<std::string(uint64_t id)> make_line, Done done);
  void shutdown(const std::string& reason);

  void pump();
  void on_read(ssize_t n, const uv_buf_t* buf);
  void on_line(std::string_view line);
  void on_exit(int64_t status, int signal);
  void answer(Result<std::string> result);
  void die(const std::string& reason);

  uv_loop_t* loop;
  std::string name;
  uint32_t timeout_ms;
  uv::Handle<uv_process_t> child;
  uv::Handle<uv_pipe_t> in;   // the child's stdin
  uv::Handle<uv_pipe_t> out;  // the child's stdout
  uv::Timer timer;
  std::deque<Question> queue;
  std::optional<Question> awaiting;
  uint64_t next_id = 1;
  std::string partial;
  std::string dead;  // why the process is gone; empty while it runs
  bool exited = false;
  // Set by shutdown while the killed child has not been reaped yet: the handle stays open
  // until the exit callback, so the child never lingers as a zombie.
  std::shared_ptr<Process> linger;
  std::array<char, 64 * 1024> buffer{};
};

namespace {

// uv_spawn leaves the handle initialised even when it fails, so it must be closed either way:
// report success to Handle::init and the spawn status through `rc`.
int spawn_into(uv_loop_t* loop, uv_process_t* handle, const uv_process_options_t* options,
               int* rc) {
  *rc = uv_spawn(loop, handle, options);
  return 0;
}

}  // namespace

Status ExternalPlugin::Process::spawn(const std::vector<std::string>& argv) {
  in.init(loop, this, uv_pipe_init, 0);
  out.init(loop, this, uv_pipe_init, 0);
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  uv_stdio_container_t stdio[3];
  stdio[0].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_READABLE_PIPE);
  stdio[0].data.stream = in.stream();
  stdio[1].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[1].data.stream = out.stream();
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = 2;
  uv_process_options_t options{};
  options.file = args[0];
  options.args = args.data();
  options.stdio = stdio;
  options.stdio_count = 3;
  options.exit_cb = [](uv_process_t* p, int64_t status, int signal) {
    if (auto* self = static_cast<Process*>(p->data)) self->on_exit(status, signal);
  };
  int rc = 0;
  child.init(loop, this, &spawn_into, &options, &rc);
  if (rc != 0) {
    child.close();
    dead = "could not be started";
    return io_error("cannot start " + argv[0] + ": " + uv::error_text(rc));
  }
  uv_read_start(
      out.stream(),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* self = static_cast<Process*>(h->data);
        *buf =
            self ? uv_buf_init(self->buffer.data(), self->buffer.size()) : uv_buf_init(nullptr, 0);
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        if (auto* self = static_cast<Process*>(s->data)) self->on_read(n, buf);
      });
  return {};
}

void ExternalPlugin::Process::ask(std::function<std::string(uint64_t)> make_line, Done done) {
  if (!dead.empty()) return done(io_error("is not running (it " + dead + ")"));
  uint64_t id = next_id++;
  queue.push_back({id, make_line(id), std::move(done)});
  pump();
}

void ExternalPlugin::Process::pump() {
  if (awaiting || queue.empty() || !dead.empty()) return;
  awaiting = std::move(queue.front());
  queue.pop_front();
  std::weak_ptr<Process> weak = weak_from_this();
  uv::write(in.stream(), awaiting->line, [weak](int rc) {
    auto self = weak.lock();
    if (self && rc < 0) self->die("closed its stdin (" + uv::error_text(rc) + ")");
  });
  timer.start(timeout_ms, [weak] {
    auto self = weak.lock();
    if (!self) return;
    self->answer(Error(ErrorCode::kTimeout,
                       "did not answer within " + std::to_string(self->timeout_ms) + " ms"));
  });
}

void ExternalPlugin::Process::answer(Result<std::string> result) {
  if (!awaiting) return;
  timer.stop();
  Done done = std::move(awaiting->done);
  awaiting.reset();
  auto keep = shared_from_this();  // `done` may destroy the plugin
  done(std::move(result));
  pump();
}

void ExternalPlugin::Process::on_read(ssize_t n, const uv_buf_t* buf) {
  if (n < 0)
    return die(n == UV_EOF ? "closed its stdout"
                           : "stdout failed: " + uv::error_text(static_cast<int>(n)));
  partial.append(buf->base, static_cast<size_t>(n));
  size_t start = 0;
  for (size_t newline; (newline = partial.find('\n', start)) != std::string::npos;
       start = newline + 1) {
    on_line(std::string_view(partial).substr(start, newline - start));
    if (!dead.empty()) return;
  }
  partial.erase(0, start);
  if (partial.size() > kMaxAnswerBytes) {
    // The stream cannot be resynchronised: stop the process.
    die("wrote a line longer than " + std::to_string(kMaxAnswerBytes) + " bytes");
  }
}

void ExternalPlugin::Process::on_line(std::string_view line) {
  json::Document doc;
  doc.Parse(line.data(), line.size());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("id") || !doc["id"].IsUint64()) {
    return answer(Error(ErrorCode::kProtocol, "answered garbage (not a JSON object with an id)"));
  }
  if (!awaiting || doc["id"].GetUint64() != awaiting->id) return;  // late: its question timed out
  answer(std::string(line));
}

void ExternalPlugin::Process::on_exit(int64_t status, int signal) {
  exited = true;
  die(signal != 0 ? "was killed by signal " + std::to_string(signal)
                  : "exited with status " + std::to_string(status));
  if (linger) {
    child.close();
    uv::defer(loop, [last = std::move(linger)] {});
  }
}

void ExternalPlugin::Process::die(const std::string& reason) {
  if (!dead.empty()) return;
  dead = reason;
  // Never once reaped: the pid may already belong to another process.
  if (child.initialized() && !exited) uv_process_kill(child.get(), SIGKILL);
  in.close();
  out.close();
  timer.stop();
  auto keep = shared_from_this();
  std::vector<Question> failed;
  if (awaiting) failed.push_back(std::move(*awaiting));
  awaiting.reset();
  for (auto& q : queue) failed.push_back(std::move(q));
  queue.clear();
  for (auto& q : failed) q.done(io_error(reason));
}

void ExternalPlugin::Process::shutdown(const std::string& reason) {
  die(reason);
  if (child.initialized() && !exited) {
    linger = shared_from_this();
  } else {
    child.close();
  }
}

namespace {

struct PluginAnswer {
  enum class Action { kAllow, kDeny, kMutate } action = Action::kAllow;
  int status = 403;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> set_headers;
  std::vector<std::string> delete_headers;
};

bool one_line(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// Validated answer; every error is the reason the request is denied.
Result<PluginAnswer> parse_plugin_answer(std::string_view line) {
  json::Document doc;
  doc.Parse(line.data(), line.size());  // parsed once already: an object with an id
  PluginAnswer answer;
  auto member = [&](const char* name) -> const rapidjson::Value* {
    auto it = doc.FindMember(name);
    return it == doc.MemberEnd() || it->value.IsNull() ? nullptr : &it->value;
  };
  const rapidjson::Value* action = member("action");
  if (action == nullptr || !action->IsString())
    return invalid_argument("answered without an action");
  std::string_view text(action->GetString(), action->GetStringLength());
  if (text == "allow") {
    answer.action = PluginAnswer::Action::kAllow;
  } else if (text == "deny") {
    answer.action = PluginAnswer::Action::kDeny;
  } else if (text == "mutate") {
    answer.action = PluginAnswer::Action::kMutate;
  } else {
    return invalid_argument("answered an unknown action");
  }
  if (const auto* status = member("status")) {
    if (!status->IsInt() || status->GetInt() < 400 || status->GetInt() > 599) {
      return invalid_argument("answered a status outside 400..599");
    }
    answer.status = status->GetInt();
  }
  if (const auto* reason = member("reason"); reason && reason->IsString()) {
    answer.reason.assign(reason->GetString(), reason->GetStringLength());
  }
  if (answer.reason.empty()) answer.reason = "no reason given";
  if (const auto* set = member("set_headers")) {
    if (!set->IsObject()) return invalid_argument("answered set_headers that is not an object");
    for (auto it = set->MemberBegin(); it != set->MemberEnd(); ++it) {
      std::string name(it->name.GetString(), it->name.GetStringLength());
      if (!it->value.IsString() || name.empty() || !one_line(name) ||
          name.find_first_of(" :") != std::string::npos ||
          !one_line({it->value.GetString(), it->value.GetStringLength()})) {
        return invalid_argument("answered an invalid header in set_headers");
      }
      answer.set_headers.emplace_back(
          canonical_header_name(name),
          std::string(it->value.GetString(), it->value.GetStringLength()));
    }
  }
  if (const auto* del = member("delete_headers")) {
    if (!del->IsArray()) return invalid_argument("answered delete_headers that is not an array");
    for (const auto& v : del->GetArray()) {
      if (!v.IsString()) return invalid_argument("answered a non-string in delete_headers");
      answer.delete_headers.emplace_back(v.GetString(), v.GetStringLength());
    }
  }
  return answer;
}

// The answer to one question, or why there is none (what the denial then says).
Result<PluginAnswer> answer_of(const Result<std::string>& line) {
  if (!line.ok()) return line.error();
  return parse_plugin_answer(*line);
}

void apply_headers(const PluginAnswer& answer, std::vector<HeaderField>& headers) {
  for (const auto& name : answer.delete_headers) remove_header(headers, name);
  for (const auto& [name, value] : answer.set_headers) set_header(headers, name, value);
}

void write_fields(json::Writer& w, const std::vector<HeaderField>& headers,
                  const SecretRedactor& redactor) {
  w.StartArray();
  for (const HeaderField& field : headers) {
    std::string value = redactor.redact(field.value);
    w.StartArray();
    w.String(field.name.c_str(), static_cast<rapidjson::SizeType>(field.name.size()));
    w.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
    w.EndArray();
  }
  w.EndArray();
}

std::string question_line(uint64_t id, std::string_view phase, const Request& request,
                          const Response* response, const SecretRedactor& redactor) {
  rapidjson::StringBuffer buffer;
  json::Writer w(buffer);
  auto string = [&](const char* key, std::string_view value) {
    std::string redacted = redactor.redact(value);
    w.Key(key);
    w.String(redacted.c_str(), static_cast<rapidjson::SizeType>(redacted.size()));
  };
  std::string_view target = request.target;
  size_t question = target.find('?');
  w.StartObject();
  w.Key("id");
  w.Uint64(id);
  string("phase", phase);
  string("host", request.host);
  w.Key("port");
  w.Uint(request.port);
  w.Key("tls");
  w.Bool(request.tls);
  string("method", request.method);
  string("path", target.substr(0, question));
  string("query", question == std::string_view::npos ? "" : target.substr(question + 1));
  w.Key("headers");
  write_fields(w, request.headers, redactor);
  if (response != nullptr) {
    w.Key("status");
    w.Int(response->status);
    w.Key("response_headers");
    write_fields(w, response->headers, redactor);
  }
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

}  // namespace

Result<std::unique_ptr<ExternalPlugin>> ExternalPlugin::start(uv_loop_t* loop,
                                                              ExternalPluginSpec spec,
                                                              SecretRedactor redactor) {
  std::string where = "external plugin " + (spec.name.empty() ? "(unnamed)" : spec.name);
  if (spec.name.empty()) return invalid_argument(where + ": no name");
  if (spec.argv.empty() || spec.argv[0].empty()) return invalid_argument(where + ": no command");
  if (spec.phases.empty()) return invalid_argument(where + ": no phases");
  for (const auto& phase : spec.phases) {
    if (phase != "gate" && phase != "request" && phase != "response") {
      return invalid_argument(where + ": unknown phase \"" + phase +
                              "\" (expected gate, request or response)");
    }
  }
  if (spec.timeout_ms == 0) return invalid_argument(where + ": timeout_ms must be positive");
  if (loop == nullptr) return invalid_argument(where + ": no event loop");
  auto process = std::make_shared<Process>(loop, spec.name, spec.timeout_ms);
  if (auto started = process->spawn(spec.argv); !started.ok()) {
    process->shutdown("could not be started");
    return started.error().with_context(where);
  }
  auto plugin = std::unique_ptr<ExternalPlugin>(
      new ExternalPlugin(spec.name, std::move(spec.phases), std::move(process)));
  plugin->redactor_ = std::move(redactor);
  return plugin;
}

ExternalPlugin::~ExternalPlugin() {
  process_->shutdown("was stopped with its sandbox");
}

bool ExternalPlugin::has_phase(std::string_view phase) const {
  return std::find(phases_.begin(), phases_.end(), phase) != phases_.end();
}

void ExternalPlugin::before_request(std::shared_ptr<Request> request,
                                    std::function<void(TransformResult)> done) {
  if (request->protocol != Protocol::kHttp) return done(Continue{});
  std::string label = "external plugin " + name_;
  // The request question, asked once the gate question (if any) allowed.
  std::weak_ptr<Process> weak = process_;
  auto request_step = [weak, request, label, done, redactor = redactor_,
                       asks = has_phase("request")]() {
    if (!asks) return done(Continue{});
    auto process = weak.lock();
    if (!process) return done(Deny{label + " was stopped"});
    process->ask(
        [&](uint64_t id) { return question_line(id, "request", *request, nullptr, redactor); },
        [request, label, done](Result<std::string> line) {
          auto answer = answer_of(line);
          if (!answer.ok()) return done(Deny{label + " failed: it " + answer.error().message});
          if (answer->action == PluginAnswer::Action::kDeny) {
            return done(Deny{label + " denied the request: " + answer->reason, answer->status});
          }
          apply_headers(*answer, request->headers);
          done(Continue{});
        });
  };
  if (!has_phase("gate")) return request_step();
  process_->ask(
      [&](uint64_t id) { return question_line(id, "gate", *request, nullptr, redactor_); },
      [label, done, request_step](Result<std::string> line) {
        auto answer = answer_of(line);
        if (!answer.ok()) return done(Deny{label + " failed: it " + answer.error().message});
        if (answer->action == PluginAnswer::Action::kDeny) {
          return done(Deny{label + " denied the request: " + answer->reason, answer->status});
        }
        if (answer->action == PluginAnswer::Action::kMutate) {
          return done(Deny{label + " failed: it answered mutate to a gate question"});
        }
        request_step();
      });
}

void ExternalPlugin::after_response(std::shared_ptr<const Request> request,
                                    std::shared_ptr<Response> response,
                                    std::function<void(ResponseStep)> done) {
  if (request->protocol != Protocol::kHttp || !has_phase("response")) return done(ResponseStep{});
  std::string label = "external plugin " + name_;
  auto deny = [label](std::string reason, int status = 403) {
    ResponseStep step;
    step.deny = Deny{label + " " + std::move(reason), status};
    return step;
  };
  process_->ask(
      [&](uint64_t id) {
        return question_line(id, "response", *request, response.get(), redactor_);
      },
      [response, deny, done](Result<std::string> line) {
        auto answer = answer_of(line);
        if (!answer.ok()) return done(deny("failed: it " + answer.error().message));
        if (answer->action == PluginAnswer::Action::kDeny) {
          return done(deny("denied the response: " + answer->reason, answer->status));
        }
        apply_headers(*answer, response->headers);
        done(ResponseStep{});
      });
}

Result<std::vector<std::unique_ptr<RemotePlugin>>> make_external_plugins(
    const PluginContext& context) {
  std::vector<std::unique_ptr<RemotePlugin>> plugins;
  for (const ExternalPluginSpec& spec : context.config.settings.external_plugins) {
    auto started = ExternalPlugin::start(context.config.loop, spec,
                                         SecretRedactor(context.config.settings.secrets));
    if (!started.ok()) return started.error();
    plugins.push_back(std::move(*started));
  }
  return plugins;
}

}  // namespace matchlock::net::policy
