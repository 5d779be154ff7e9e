// external_plugin: a custom plugin as a long-lived child process speaking JSON lines.
//
// Process: spawned once when the pipeline is built (argv[0] absolute or found on PATH; stdin
// and stdout are pipes, stderr is the engine's), killed (SIGKILL) when the plugin is destroyed
// with its sandbox's pipeline. It is never restarted: once it has exited, every request that
// needs it is denied.
//
// Protocol (one JSON object per line, each way; one question at a time, the next is written
// only after the answer to the previous one or its deadline):
//   engine -> plugin
//     {"id":7,"phase":"gate"|"request"|"response","host":"api.x.com","port":443,"tls":true,
//      "method":"POST","path":"/v1/chat","query":"a=1",
//      "headers":[["Content-Type","application/json"],...],
//      "status":200,"response_headers":[[...]]}          (status, response_headers: response)
//   plugin -> engine
//     {"id":7,"action":"allow"|"deny"|"mutate","status":429,"reason":"...",
//      "set_headers":{"X-A":"1"},"delete_headers":["X-B"]}
//   allow: go on. deny: the guest gets `status` (400..599, default 403) naming `reason`.
//   mutate (request, response phases): set/delete headers of the request, or of the response.
//   An answer whose id is not the one awaited (a late answer to a question that timed out) is
//   dropped. Phases not in ExternalPluginSpec::phases are never asked. The gate question is
//   asked, for HTTP requests, when the request reaches the remote plugins (before_request),
//   followed by the request question.
//
// Fail closed: no answer within timeout_ms, a line that is not such an answer (or longer than
// kMaxAnswerBytes), a dead process => deny, with a reason naming the plugin.
//
// Secrets: the plugin runs after secret_injector; every string sent passes through the
// SecretRedactor, so the process sees placeholders, never values.
#pragma once

#include <uv.h>

#include <memory>
#include <vector>

#include "core/result.h"
#include "net/policy/plugin_settings.h"
#include "net/policy/remote_plugin.h"
#include "net/policy/secret_redactor.h"

namespace matchlock::net::policy {

struct PluginContext;

class ExternalPlugin : public RemotePlugin {
 public:
  // kInvalidArgument for a bad spec (no name, no argv, unknown phase, timeout 0); kIo when
  // the process cannot be started. `loop` must outlive the plugin.
  static Result<std::unique_ptr<ExternalPlugin>> start(uv_loop_t* loop, ExternalPluginSpec spec,
                                                       SecretRedactor redactor);
  ~ExternalPlugin() override;
  ExternalPlugin(const ExternalPlugin&) = delete;
  ExternalPlugin& operator=(const ExternalPlugin&) = delete;

  std::string_view name() const override { return name_; }
  void before_request(std::shared_ptr<Request> request,
                      std::function<void(TransformResult)> done) override;
  void after_response(std::shared_ptr<const Request> request, std::shared_ptr<Response> response,
                      std::function<void(ResponseStep)> done) override;

  struct Process;  // the child and its pipes, shared with libuv callbacks

 private:
  ExternalPlugin(std::string name, std::vector<std::string> phases,
                 std::shared_ptr<Process> process)
      : name_(std::move(name)), phases_(std::move(phases)), process_(std::move(process)) {}
  bool has_phase(std::string_view phase) const;

  std::string name_;
  std::vector<std::string> phases_;
  std::shared_ptr<Process> process_;
  SecretRedactor redactor_;
};

// One plugin per ExternalPluginSpec, in order; the first that cannot start is the error.
Result<std::vector<std::unique_ptr<RemotePlugin>>> make_external_plugins(
    const PluginContext& context);

}  // namespace matchlock::net::policy
