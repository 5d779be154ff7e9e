// local_model_router: sends chosen LLM calls to a local model server instead of the provider.
// A POST to a route's source_host whose JSON body has "model" == source_model goes to the
// route's backend (plain HTTP, RouteTo{host, port, tls=false}) with "model" rewritten to
// target_model; every other byte of the JSON document is kept (RapidJSON re-serialises it:
// member order and values are kept, insignificant whitespace is not).
//
// Pipeline order: a route decided from the head could not know the model, so this plugin does
// not answer route() at all. It asks for the body of every POST to a source host
// (wants_request_body) and routes in route_by_body(), the pipeline step after the request
// body transforms: routing and the "model" rewrite are one decision, taken with the body in
// hand. A body that is not a JSON object, has no string "model" or names no routed model is
// passed through untouched and not routed (it goes to its own host). The pipeline reports the
// route as a route_decision event whose reason names both models and the backend.
//
// Secrets: by the time the body is read, secret_injector has put real values into the request
// for its original host (say api.openai.com's key). The backend is not that host, so a routed
// request leaves them behind: every secret value in its headers and target is turned back into
// its placeholder before the request goes anywhere.
//
// Spec grammar (--local-model-route SOURCE_HOST/SOURCE_MODEL=TARGET_MODEL[@HOST:PORT]):
// the FIRST '/' ends the host (host names hold no '/'), so models may hold '/': in
// "openrouter.ai/meta-llama/llama-3-8b=llama3:8b" the source model is "meta-llama/llama-3-8b".
// The first '=' after the host ends the source model. The target runs to the end, except
// that a final "@HOST:PORT" is the backend when what follows the LAST '@' parses as HOST:PORT
// ("claude@20240229" stays a model name: no port).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "net/policy/plugin.h"
#include "net/policy/plugin_settings.h"
#include "net/policy/secret_redactor.h"

namespace matchlock::net::policy {

struct PluginContext;

struct HostPort {
  std::string host;  // normalized name or IP literal (no brackets)
  uint16_t port = 0;
};

// Errors: kInvalidArgument, one line starting "--local-model-route" / "--local-model-backend".
Result<ModelRoute> parse_model_route(std::string_view spec);
Result<HostPort> parse_model_backend(std::string_view spec);

class LocalModelRouter : public Plugin {
 public:
  // Routes without their own backend use `default_backend` (kInvalidArgument if it is needed
  // and unset or malformed); two routes for the same source host and model are an error.
  // `redactor`: the sandbox's secrets (see the header comment).
  static Result<std::unique_ptr<LocalModelRouter>> create(std::vector<ModelRoute> routes,
                                                          const std::string& default_backend,
                                                          SecretRedactor redactor = {});

  std::string_view name() const override { return "local_model_router"; }
  bool wants_request_body(const Request& request) const override;
  bool may_reroute(std::string_view host) const override;
  RouteResult route_by_body(Request& request, std::string& body) override;

 private:
  LocalModelRouter(std::vector<ModelRoute> routes, SecretRedactor redactor)
      : routes_(std::move(routes)), redactor_(std::move(redactor)) {}

  std::vector<ModelRoute> routes_;  // every backend filled in
  SecretRedactor redactor_;
};

Result<std::unique_ptr<Plugin>> make_local_model_router(const PluginContext& context);

}  // namespace matchlock::net::policy
