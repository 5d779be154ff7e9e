#include "vfs/hook_pipeline.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <utility>

#include "core/base64.h"
#include "core/json.h"
#include "core/log.h"
#include "core/unix_line_call.h"

namespace matchlock::vfs {

struct HookPipeline::Shared {
  uv_loop_t* loop = nullptr;
  HookSettings settings;
  EventSink sink;
  size_t after_in_flight = 0;
  uint64_t after_dropped = 0;
};

// One before() in progress: the rules still to run and what they decided so far.
struct HookPipeline::BeforeRun {
  FileOperation op;
  std::string_view original;            // the guest's bytes (valid until done)
  std::optional<std::string> replaced;  // set by a mutate_write answer
  size_t next_rule = 0;
  std::function<void(HookDecision)> done;

  std::string_view data() const { return replaced ? std::string_view(*replaced) : original; }
  void finish(int error) {
    HookDecision d;
    d.error = error;
    if (error == 0 && op.op == FileOp::kWrite) d.replace = std::move(replaced);
    auto fn = std::move(done);
    fn(std::move(d));
  }
};

namespace {

uint32_t timeout_of(const HookRule& rule) {
  return rule.timeout_ms == 0 ? kDefaultCallbackTimeoutMs : rule.timeout_ms;
}

}  // namespace

std::string callback_request(const HookRule& rule, const FileOperation& op, std::string_view phase,
                             std::string_view data, bool with_data, int error) {
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  auto str = [&](const char* key, std::string_view value) {
    w.Key(key);
    w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  };
  w.StartObject();
  str("callback_id", rule.callback_id);
  str("phase", phase);
  str("op", file_op_name(op.op));
  str("path", op.path);
  if (!op.new_path.empty()) str("new_path", op.new_path);
  w.Key("uid"), w.Uint(op.uid);
  w.Key("gid"), w.Uint(op.gid);
  w.Key("pid"), w.Uint(op.pid);
  w.Key("mode"), w.Uint(op.mode);
  w.Key("offset"), w.Uint64(op.offset);
  w.Key("size"), w.Uint64(op.size);
  if (phase == "after") w.Key("errno"), w.Int(error);
  if (with_data) str("data_base64", base64::encode(data));
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

Result<HookDecision> parse_callback_answer(std::string_view line, const FileOperation& op) {
  json::Document d;
  d.Parse(line.data(), line.size());
  if (d.HasParseError() || !d.IsObject()) return Error(ErrorCode::kProtocol, "answer is not JSON");
  auto text = [&](const char* key) -> std::optional<std::string> {
    auto it = d.FindMember(key);
    if (it == d.MemberEnd() || it->value.IsNull()) return std::string();
    if (!it->value.IsString()) return std::nullopt;
    return std::string(it->value.GetString(), it->value.GetStringLength());
  };
  auto error = text("error");
  if (!error) return Error(ErrorCode::kProtocol, "\"error\" is not a string");
  if (!error->empty()) return Error(ErrorCode::kProtocol, "callback error: " + *error);
  auto action = text("action");
  if (!action) return Error(ErrorCode::kProtocol, "\"action\" is not a string");

  HookDecision decision;
  if (*action == "block") {
    decision.error = EPERM;
    if (auto it = d.FindMember("errno"); it != d.MemberEnd() && !it->value.IsNull()) {
      auto e = parse_errno(it->value);
      if (!e) return Error(ErrorCode::kProtocol, "\"errno\" is not an errno");
      decision.error = *e;
    }
  } else if (*action == "mutate_write") {
    auto data = text("data_base64");
    if (!data) return Error(ErrorCode::kProtocol, "\"data_base64\" is not a string");
    auto bytes = base64::decode(*data);
    if (!bytes) return Error(ErrorCode::kProtocol, "\"data_base64\" is not base64");
    if (op.op == FileOp::kWrite) decision.replace = std::move(*bytes);
  } else if (!action->empty() && *action != "allow") {
    return Error(ErrorCode::kProtocol, "unknown action \"" + *action + "\"");
  }
  return decision;
}

HookPipeline::HookPipeline(uv_loop_t* loop, HookSettings settings, EventSink sink)
    : shared_(std::make_shared<Shared>()) {
  shared_->loop = loop;
  shared_->settings = std::move(settings);
  shared_->sink = std::move(sink);
}

HookPipeline::~HookPipeline() = default;

bool HookPipeline::wants_before(const FileOperation& op) const {
  for (const auto& rule : shared_->settings.rules) {
    if (rule.phase != HookPhase::kBefore) continue;
    const bool effective = rule.action == HookAction::kBlock || !rule.callback_id.empty();
    if (effective && rule.matches(op)) return true;
  }
  return false;
}

void HookPipeline::before(const FileOperation& op, std::string_view data,
                          std::function<void(HookDecision)> done) {
  auto run = std::make_shared<BeforeRun>();
  run->op = op;
  run->original = data;
  run->done = std::move(done);
  next_before(shared_, std::move(run));
}

// Runs the rules from run->next_rule on; a callback rule continues from its answer (the
// pipeline may be gone by then: the run keeps the settings alive through `shared`).
void HookPipeline::next_before(const std::shared_ptr<Shared>& shared,
                               const std::shared_ptr<BeforeRun>& run) {
  const auto& rules = shared->settings.rules;
  for (; run->next_rule < rules.size(); ++run->next_rule) {
    const HookRule& rule = rules[run->next_rule];
    if (rule.phase != HookPhase::kBefore || !rule.matches(run->op)) continue;
    if (rule.action == HookAction::kBlock) return run->finish(rule.error);
    if (rule.callback_id.empty()) continue;

    const bool with_data = rule.action == HookAction::kMutateWrite && run->op.op == FileOp::kWrite;
    std::string line = callback_request(rule, run->op, "before", run->data(), with_data, 0) + "\n";
    ++run->next_rule;
    unix_line_call(shared->loop, shared->settings.callback_socket, std::move(line),
                   timeout_of(rule), [shared, run, &rule](Result<std::string> answer) {
                     auto fail_closed = [&](const std::string& why) {
                       log::warn("vfs hook \"" + rule.callback_id + "\" failed for " +
                                 run->op.path + " (" + why + "): " + file_op_name(run->op.op) +
                                 " refused with EPERM");
                       run->finish(EPERM);
                     };
                     if (!answer.ok()) return fail_closed(answer.error().message);
                     auto decision = parse_callback_answer(*answer, run->op);
                     if (!decision.ok()) return fail_closed(decision.error().message);
                     if (decision->error != 0) return run->finish(decision->error);
                     if (decision->replace) run->replaced = std::move(decision->replace);
                     next_before(shared, run);
                   });
    return;
  }
  run->finish(0);
}

void HookPipeline::after(const FileOperation& op, int error) {
  auto& s = *shared_;
  if (s.sink && !s.settings.empty()) s.sink(op, error);
  for (const auto& rule : s.settings.rules) {
    if (rule.phase != HookPhase::kAfter || rule.callback_id.empty() || !rule.matches(op)) continue;
    if (s.after_in_flight >= kMaxAfterCallsInFlight) {
      // Observers must not slow the guest down or pile up: a slow SDK loses notifications.
      if (s.after_dropped++ == 0) log::warn("vfs hooks: after-phase callbacks too slow; dropping");
      continue;
    }
    ++s.after_in_flight;
    std::string line = callback_request(rule, op, "after", {}, false, error) + "\n";
    unix_line_call(s.loop, s.settings.callback_socket, std::move(line), timeout_of(rule),
                   [shared = shared_](Result<std::string>) { --shared->after_in_flight; });
  }
}

uint64_t HookPipeline::dropped_after_calls() const {
  return shared_->after_dropped;
}

}  // namespace matchlock::vfs
