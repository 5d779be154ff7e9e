#include "net/policy/plugins/secret_injector.h"

#include <algorithm>
#include <set>

#include "core/ascii.h"
#include "net/policy/host_name.h"

namespace matchlock::net::policy {

// A value written into a request target must keep the request line parseable: bytes a target
// may not hold raw are percent-encoded; everything else (including '&', '=', '/') is kept, so
// the value means what the user wrote.
std::string encode_secret_for_target(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  static constexpr std::string_view kUnsafe = " \"#<>\\^`{|}";
  std::string out;
  for (char c : value) {
    auto b = static_cast<unsigned char>(c);
    if (b <= 0x20 || b >= 0x7f || kUnsafe.find(c) != std::string_view::npos) {
      out += '%';
      out += kHex[b >> 4];
      out += kHex[b & 0x0f];
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

// The authority of an absolute-form target ("http://Host:80/path"), or nullopt for origin-form
// ("/path") and asterisk-form ("*"). An authority-form or unknown target yields "" (no host).
std::optional<std::string_view> target_authority(std::string_view target) {
  if (target.empty() || target.front() == '/' || target == "*") return std::nullopt;
  size_t scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos) return std::string_view();
  std::string_view rest = target.substr(scheme_end + 3);
  return rest.substr(0, rest.find_first_of("/?#"));
}

// The one name every layer gave this request's destination; empty with `problem` set when the
// names disagree or one is missing. See the header for why all of them must agree.
std::string agreed_host(const Request& request, std::string& problem) {
  const std::string& host = request.host;
  if (host.empty()) {
    problem = "the request names no host";
    return {};
  }
  for (const auto& field : request.headers) {
    if (!equals_ignoring_ascii_case(field.name, "host")) continue;
    auto named = host_from_authority(field.value);
    if (!named || *named != host) {
      problem = "its Host header fields disagree";
      return {};
    }
  }
  if (auto authority = target_authority(request.target)) {
    auto named = host_from_authority(*authority);
    if (!named || *named != host) {
      problem = "its request target names another host than its Host header";
      return {};
    }
  }
  if (!request.sni.empty() && normalize_host_name(request.sni) != host) {
    problem = "its TLS server name does not match its Host header " + host;
    return {};
  }
  if (request.dns_name.empty()) {
    // An IP-literal Host needs no DNS: it must be the very address dialled.
    auto literal = IpAddress::parse(host);
    if (!literal || !request.destination ||
        literal->canonical() != request.destination->canonical()) {
      problem = "the address it goes to was not resolved for " + host;
      return {};
    }
  } else if (normalize_host_name(request.dns_name) != host) {
    problem = "the address it goes to was resolved for another name than " + host;
    return {};
  }
  return host;
}

}  // namespace

Result<std::unique_ptr<SecretInjector>> SecretInjector::create(std::vector<InjectedSecret> secrets,
                                                               EventSink* sink) {
  std::vector<Binding> bindings;
  std::set<std::string> names;
  for (auto& secret : secrets) {
    std::string where = "secret " + secret.name;
    if (!names.insert(secret.name).second) return invalid_argument(where + " is given twice");
    if (secret.placeholder.size() < kMinPlaceholderLength) {
      return invalid_argument(where + ": placeholder too short");
    }
    for (const auto& other : bindings) {
      if (other.placeholder.find(secret.placeholder) != std::string::npos ||
          secret.placeholder.find(other.placeholder) != std::string::npos) {
        return invalid_argument(where + ": placeholder overlaps the one of " + other.name);
      }
    }
    if (secret.hosts.empty()) return invalid_argument(where + ": no hosts");
    // A line break would let the value forge header fields or a second request.
    if (secret.value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return invalid_argument(where + ": the value contains a line break or NUL");
    }
    Binding binding;
    for (const auto& text : secret.hosts) {
      auto pattern = HostPattern::parse(text);
      if (!pattern.ok()) return pattern.error().with_context(where);
      binding.hosts.push_back(std::move(*pattern));
    }
    binding.name = std::move(secret.name);
    binding.target_value = encode_secret_for_target(secret.value);
    binding.value = std::move(secret.value);
    binding.placeholder = std::move(secret.placeholder);
    bindings.push_back(std::move(binding));
  }
  return std::unique_ptr<SecretInjector>(new SecretInjector(std::move(bindings), sink));
}

std::string SecretInjector::replace_placeholders(const std::string& text, bool in_target) const {
  // One left-to-right pass: at each step take the earliest placeholder of any secret, so text
  // coming from a value is never searched again.
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t best = std::string::npos;
    const Binding* found = nullptr;
    for (const auto& b : bindings_) {
      size_t at = text.find(b.placeholder, pos);
      if (at < best) best = at, found = &b;
    }
    if (found == nullptr) break;
    out.append(text, pos, best - pos);
    out += in_target ? found->target_value : found->value;
    pos = best + found->placeholder.size();
  }
  out.append(text, pos, std::string::npos);
  return out;
}

void SecretInjector::emit(const Binding& secret, const Request& request, bool injected,
                          const std::string& detail) const {
  if (sink_ == nullptr) return;
  Event event;
  event.type = EventType::kRequestTransform;
  event.plugin = std::string(name());
  event.tags = {"secret"};
  std::string host = request.host.empty() ? "(no host)" : request.host;
  if (injected) {
    event.summary = "injected secret " + secret.name + " into a request to " + host;
  } else {
    event.summary = "blocked a request to " + host + " carrying the placeholder of secret " +
                    secret.name + ": " + detail;
    event.tags.push_back("blocked");
  }
  event.data = {{"action", std::string(injected ? "injected" : "blocked")},
                {"secret", secret.name},
                {"host", host}};
  if (!injected) event.data.push_back({"reason", detail});
  sink_->on_event(event);
}

TransformResult SecretInjector::transform_request(Request& request) {
  if (request.protocol != Protocol::kHttp || bindings_.empty()) return Continue{};

  // Which secrets does the request carry, and may each go where the request goes?
  std::string problem;
  std::string host = agreed_host(request, problem);
  std::vector<const Binding*> carried;
  std::vector<std::pair<const Binding*, std::string>> refused;
  for (const auto& b : bindings_) {
    bool in_value = request.target.find(b.placeholder) != std::string::npos;
    bool in_name = false;
    for (const auto& field : request.headers) {
      in_value = in_value || field.value.find(b.placeholder) != std::string::npos;
      in_name = in_name || field.name.find(b.placeholder) != std::string::npos;
    }
    if (!in_value && !in_name) continue;
    if (in_name) {
      refused.emplace_back(&b, "the placeholder is in a header name");
    } else if (host.empty()) {
      refused.emplace_back(&b, problem);
    } else if (std::none_of(b.hosts.begin(), b.hosts.end(),
                            [&](const HostPattern& p) { return p.matches(host); })) {
      refused.emplace_back(&b, "the secret is not bound to " + host);
    } else {
      carried.push_back(&b);
    }
  }

  if (!refused.empty()) {
    std::string reason = "secret placeholder sent to unauthorized host:";
    for (const auto& [b, why] : refused) {
      emit(*b, request, false, why);
      reason += " " + b->name + " (" + why + ")";
    }
    return Deny{reason};
  }
  if (carried.empty()) return Continue{};
  request.target = replace_placeholders(request.target, true);
  for (auto& field : request.headers) field.value = replace_placeholders(field.value, false);
  for (const Binding* b : carried) emit(*b, request, true, {});
  return Continue{};
}

}  // namespace matchlock::net::policy
