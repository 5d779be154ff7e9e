#include "net/policy/plugins/local_model_router.h"

#include <rapidjson/document.h>
#include <rapidjson/encodedstream.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <optional>
#include <utility>

#include "core/ascii.h"
#include "core/json.h"
#include "net/policy/host_name.h"
#include "net/policy/plugin_registry.h"

namespace matchlock::net::policy {
namespace {

// Copies a JSON document token by token with the top-level "model" string replaced. Numbers
// pass through as the text the guest wrote: a DOM round trip would re-round them (RapidJSON's
// double parsing is not exact) and could not write one too large for a double at all.
class ModelRewriter : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, ModelRewriter> {
 public:
  ModelRewriter(json::Writer& out, std::string_view model) : out_(out), model_(model) {}

  bool Null() { return out_.Null(); }
  bool Bool(bool b) { return out_.Bool(b); }
  bool RawNumber(const char* text, rapidjson::SizeType length, bool) {
    return out_.RawValue(text, length, rapidjson::kNumberType);
  }
  bool String(const char* text, rapidjson::SizeType length, bool) {
    if (std::exchange(value_is_model_, false)) {
      return out_.String(model_.data(), static_cast<rapidjson::SizeType>(model_.size()));
    }
    return out_.String(text, length);
  }
  bool Key(const char* text, rapidjson::SizeType length, bool) {
    value_is_model_ = depth_ == 1 && std::string_view(text, length) == "model";
    return out_.Key(text, length);
  }
  bool StartObject() {
    value_is_model_ = false;
    ++depth_;
    return out_.StartObject();
  }
  bool EndObject(rapidjson::SizeType members) {
    --depth_;
    return out_.EndObject(members);
  }
  bool StartArray() {
    value_is_model_ = false;
    ++depth_;
    return out_.StartArray();
  }
  bool EndArray(rapidjson::SizeType elements) {
    --depth_;
    return out_.EndArray(elements);
  }
  bool Default() { return false; }  // never reached with kParseNumbersAsStringsFlag

 private:
  json::Writer& out_;
  std::string_view model_;
  int depth_ = 0;
  bool value_is_model_ = false;
};

// `body` with its top-level "model" set to `model`; nullopt if it does not parse.
std::optional<std::string> with_model(const std::string& body, std::string_view model) {
  rapidjson::StringBuffer buffer;
  json::Writer writer(buffer);
  ModelRewriter rewriter(writer, model);
  rapidjson::Reader reader;
  // The reader recurses per level like the DOM parser: only text within json::kMaxDepth is read
  // (a deeper body is cut there and fails to parse).
  rapidjson::MemoryStream bytes(body.data(), json::within_depth(body));
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> in(bytes);
  if (reader.Parse<rapidjson::kParseNumbersAsStringsFlag>(in, rewriter).IsError()) {
    return std::nullopt;
  }
  return std::string(buffer.GetString(), buffer.GetSize());
}

constexpr std::string_view kRouteFlag = "--local-model-route";
constexpr std::string_view kBackendFlag = "--local-model-backend";

// "HOST:PORT" (IPv6 bracketed), or the reason it is not.
Result<HostPort> parse_host_port(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return invalid_argument("expected HOST:PORT");
  std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port == 0 || port > 65535) {
    return invalid_argument("the port must be a number from 1 to 65535");
  }
  std::string_view host_text = text.substr(0, colon);
  if (host_text.size() >= 2 && host_text.front() == '[' && host_text.back() == ']') {
    host_text = host_text.substr(1, host_text.size() - 2);
  } else if (host_text.find(':') != std::string_view::npos) {
    return invalid_argument("an IPv6 address needs brackets: [ADDRESS]:PORT");
  }
  auto host = host_from_authority(host_text.find(':') == std::string_view::npos
                                      ? host_text
                                      : "[" + std::string(host_text) + "]");
  if (host_text.empty() || !host) return invalid_argument("invalid host");
  return HostPort{*host, static_cast<uint16_t>(port)};
}

std::string quoted(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

}  // namespace

Result<HostPort> parse_model_backend(std::string_view spec) {
  auto parsed = parse_host_port(spec);
  if (!parsed.ok()) {
    return invalid_argument(std::string(kBackendFlag) + " " + quoted(spec) + ": " +
                            parsed.error().message);
  }
  return parsed;
}

Result<ModelRoute> parse_model_route(std::string_view spec) {
  auto fail = [&](const std::string& why) -> Error {
    return invalid_argument(std::string(kRouteFlag) + " " + quoted(spec) + ": " + why +
                            " (expected SOURCE_HOST/SOURCE_MODEL=TARGET_MODEL[@HOST:PORT])");
  };
  // Model ids have no whitespace or control characters; one in a spec is a quoting mistake.
  constexpr size_t kMaxSpecLength = 1024;
  if (spec.size() > kMaxSpecLength) return fail("longer than 1024 characters");
  for (unsigned char c : spec) {
    if (c <= ' ' || c == 0x7f) return fail("contains whitespace or a control character");
  }
  size_t slash = spec.find('/');
  if (slash == std::string_view::npos) return fail("no '/' after the source host");
  std::string host = normalize_host_name(spec.substr(0, slash));
  if (!is_valid_host_name(host)) return fail("invalid source host");
  std::string_view rest = spec.substr(slash + 1);
  size_t eq = rest.find('=');
  if (eq == std::string_view::npos) return fail("no '=' before the target model");
  ModelRoute route;
  route.source_host = host;
  route.source_model = std::string(rest.substr(0, eq));
  std::string_view target = rest.substr(eq + 1);
  size_t at = target.rfind('@');
  if (at != std::string_view::npos) {
    if (auto backend = parse_host_port(target.substr(at + 1)); backend.ok()) {
      route.backend_host = backend->host;
      route.backend_port = backend->port;
      target = target.substr(0, at);
    }
  }
  route.target_model = std::string(target);
  if (route.source_model.empty()) return fail("empty source model");
  if (route.target_model.empty()) return fail("empty target model");
  return route;
}

Result<std::unique_ptr<LocalModelRouter>> LocalModelRouter::create(
    std::vector<ModelRoute> routes, const std::string& default_backend, SecretRedactor redactor) {
  std::optional<HostPort> fallback;
  if (!default_backend.empty()) {
    auto parsed = parse_model_backend(default_backend);
    if (!parsed.ok()) return parsed.error();
    fallback = *parsed;
  }
  for (size_t i = 0; i < routes.size(); ++i) {
    ModelRoute& route = routes[i];
    std::string which =
        std::string(kRouteFlag) + " " + route.source_host + "/" + route.source_model;
    if (route.backend_host.empty()) {
      if (!fallback)
        return invalid_argument(which + ": no @HOST:PORT and no " + std::string(kBackendFlag));
      route.backend_host = fallback->host;
      route.backend_port = fallback->port;
    }
    if (route.backend_port == 0) return invalid_argument(which + ": backend port 0");
    for (size_t k = 0; k < i; ++k) {
      if (routes[k].source_host == route.source_host &&
          routes[k].source_model == route.source_model) {
        return invalid_argument(which + " is given twice");
      }
    }
  }
  return std::unique_ptr<LocalModelRouter>(
      new LocalModelRouter(std::move(routes), std::move(redactor)));
}

bool LocalModelRouter::may_reroute(std::string_view host) const {
  for (const ModelRoute& route : routes_) {
    if (route.source_host == host) return true;
  }
  return false;
}

bool LocalModelRouter::wants_request_body(const Request& request) const {
  if (request.protocol != Protocol::kHttp || !equals_ignoring_ascii_case(request.method, "POST")) {
    return false;
  }
  for (const ModelRoute& route : routes_) {
    if (route.source_host == request.host) return true;
  }
  return false;
}

RouteResult LocalModelRouter::route_by_body(Request& request, std::string& body) {
  if (!wants_request_body(request)) return Continue{};
  json::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) return Continue{};
  auto model = doc.FindMember("model");
  if (model == doc.MemberEnd() || !model->value.IsString()) return Continue{};
  std::string_view asked(model->value.GetString(), model->value.GetStringLength());
  for (const ModelRoute& route : routes_) {
    if (route.source_host != request.host || route.source_model != asked) continue;
    auto rewritten = with_model(body, route.target_model);
    if (!rewritten) return Continue{};
    body = std::move(*rewritten);
    for (HeaderField& field : request.headers) field.value = redactor_.redact(field.value);
    request.target = redactor_.redact(request.target);
    return RouteTo{route.backend_host, route.backend_port, false,
                   "model " + route.source_model + " on " + route.source_host + " -> " +
                       route.target_model + " at " + route.backend_host + ":" +
                       std::to_string(route.backend_port)};
  }
  return Continue{};
}

Result<std::unique_ptr<Plugin>> make_local_model_router(const PluginContext& context) {
  const PluginSettings& settings = context.config.settings;
  if (settings.model_routes.empty()) return std::unique_ptr<Plugin>();
  auto made = LocalModelRouter::create(settings.model_routes, settings.local_model_backend,
                                       SecretRedactor(settings.secrets));
  if (!made.ok()) return made.error();
  return std::unique_ptr<Plugin>(std::move(*made));
}

}  // namespace matchlock::net::policy
