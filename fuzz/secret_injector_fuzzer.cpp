// The secret injector (engine/src/net/policy/plugins/secret_injector.cpp) on requests the guest
// shapes at will: method, target, header fields (Host included), and the names its destination
// was reached by (Host, TLS SNI, the DNS name dialled), each from a list of bound and unbound
// names or raw bytes. Two secrets: one bound to api.openai.com, one to *.example.com whose value
// needs percent-encoding in a target (values start with text no engine message holds, so a value
// in an event can only come from the engine's knowledge or the guest's own bytes).
// Invariants (the injector's promise, secret_injector.h): a secret's value (either spelling)
// appears in the request afterwards more often than the guest wrote it only when the request's
// host, its DNS name and its SNI (if any) all name one host the secret is bound to; a denied
// request is left exactly as it was; a request carrying no placeholder is left exactly as it
// was; no event carries a value the guest did not write itself.
#include <algorithm>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "fuzz_input.h"
#include "net/policy/event_sink.h"
#include "net/policy/plugins/secret_injector.h"

namespace policy = matchlock::net::policy;
using matchlock::fuzz::InputReader;

namespace {

struct Secret {
  const char* name;
  const char* value;
  const char* placeholder;
  const char* host_pattern;
};
constexpr Secret kSecrets[] = {
    {"OPENAI_KEY", "sk-live-Q7f0a91c", "MATCHLOCK_PH_OPENAI_7c1e", "api.openai.com"},
    {"EXAMPLE_TOKEN", "Zq0 en/%\"two", "MATCHLOCK_PH_EXAMPLE_93ab", "*.example.com"},
};
// The names the request's layers may give; the last is "raw bytes from the input".
constexpr const char* kNames[] = {"api.openai.com", "x.example.com", "evil.com", ""};
constexpr size_t kRawName = std::size(kNames);

bool bound(const Secret& s, const std::string& host) {
  const std::string_view pattern = s.host_pattern;
  if (pattern.substr(0, 2) != "*.") return host == pattern;
  const std::string_view suffix = pattern.substr(1);  // ".example.com"
  return host.size() > suffix.size() && host.ends_with(suffix);
}

size_t count(std::string_view text, std::string_view needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string_view::npos;
       at = text.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

// Everything of a request the injector may change, as one text (fields separated so that no
// value can be formed across a boundary).
std::string flatten(const policy::Request& r) {
  std::string out = r.method + '\n' + r.target + '\n';
  for (const auto& h : r.headers) out += h.name + '\n' + h.value + '\n';
  return out;
}

size_t value_count(std::string_view text, const Secret& s) {
  const std::string encoded = policy::encode_secret_for_target(s.value);
  return count(text, s.value) + (encoded != s.value ? count(text, encoded) : 0);
}

class EventText : public policy::EventSink {
 public:
  // Each field on its own line, as the event log keeps them apart: a value must not be formed
  // across two fields (a key "host" followed by a host "ok..." reads "...tok...").
  void on_decision(const policy::PolicyEvent& e) override {
    text += e.host + '\n' + e.reason + '\n';
  }
  void on_event(const policy::Event& e) override {
    text += e.plugin + '\n' + e.summary + '\n';
    for (const auto& tag : e.tags) text += tag + '\n';
    for (const auto& field : e.data) {
      if (const auto* s = std::get_if<std::string>(&field.value))
        text += field.key + '\n' + *s + '\n';
    }
  }
  std::string text;
};

// A name from the list, or raw bytes; `raw` tells which.
std::string pick_name(InputReader& in, bool* raw) {
  const size_t choice = in.u8() % (kRawName + 1);
  *raw = choice == kRawName;
  return *raw ? in.bytes(in.u8() % 40) : std::string(kNames[choice]);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static EventText events;
  static const auto injector = [] {
    std::vector<policy::InjectedSecret> secrets;
    for (const Secret& s : kSecrets)
      secrets.push_back({s.name, s.value, s.placeholder, {s.host_pattern}});
    auto made = policy::SecretInjector::create(std::move(secrets), &events);
    FUZZ_CHECK(made.ok());
    return std::move(made.value());
  }();
  events.text.clear();

  InputReader in(data, size);
  policy::Request r;
  r.protocol = policy::Protocol::kHttp;
  r.tls = in.u8() & 1;
  bool raw_host = false, raw_sni = false, raw_dns = false;
  r.host = pick_name(in, &raw_host);
  r.sni = r.tls ? pick_name(in, &raw_sni) : "";
  r.dns_name = pick_name(in, &raw_dns);
  r.destination = policy::IpAddress::parse("10.0.0.1");
  r.port = r.tls ? 443 : 80;
  r.method = in.bytes(in.u8() % 16);
  r.target = in.bytes(in.u16() % 2048);
  for (int fields = in.u8() % 12; fields > 0 && !in.empty(); --fields) {
    std::string name = in.bytes(in.u8() % 32);
    r.headers.push_back({std::move(name), in.bytes(in.u16() % 512)});
  }

  const policy::Request before = r;
  const std::string before_text = flatten(before);
  const auto result = injector->transform_request(r);
  const std::string after_text = flatten(r);

  bool carried_placeholder = false;
  for (const Secret& s : kSecrets)
    carried_placeholder |= before_text.find(s.placeholder) != std::string::npos;
  if (std::holds_alternative<policy::Deny>(result) || !carried_placeholder) {
    FUZZ_CHECK(after_text == before_text && r.headers.size() == before.headers.size());
  }

  const bool names_known = !raw_host && !raw_sni && !raw_dns;
  for (const Secret& s : kSecrets) {
    const size_t written = value_count(before_text, s);
    const bool guest_wrote_it = written > 0 || value_count(before.host, s) > 0 ||
                                value_count(before.sni, s) > 0 ||
                                value_count(before.dns_name, s) > 0;
    FUZZ_CHECK(guest_wrote_it || value_count(events.text, s) == 0);
    if (value_count(after_text, s) <= written || !names_known) continue;
    // A value was put in: every layer named the same host, and the secret is bound to it.
    FUZZ_CHECK(!r.host.empty() && r.dns_name == r.host && (r.sni.empty() || r.sni == r.host));
    FUZZ_CHECK(bound(s, r.host));
  }
  return 0;
}
