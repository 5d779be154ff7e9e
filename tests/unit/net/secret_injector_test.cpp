#include "net/policy/plugins/secret_injector.h"

#include <catch2/catch.hpp>

#include "net/policy/pipeline.h"

using namespace matchlock;
using namespace matchlock::net::policy;

namespace {

const std::string kValue = "sk-live-REALVALUE-0123";
const std::string kPlaceholder = "SANDBOX_SECRET_0123456789abcdef0123456789abcdef";
const std::string kOtherValue = "ghp-OTHERVALUE-4567";
const std::string kOtherPlaceholder = "SANDBOX_SECRET_fedcba9876543210fedcba9876543210";

struct RecordingSink : EventSink {
  std::vector<PolicyEvent> decisions;
  std::vector<Event> events;
  void on_decision(const PolicyEvent& event) override { decisions.push_back(event); }
  void on_event(const Event& event) override { events.push_back(event); }
};

// Every string an event carries, to check that no secret value ever appears in one.
std::string all_text(const Event& event) {
  std::string text = event.plugin + "\n" + event.summary + "\n";
  for (const auto& tag : event.tags) text += tag + "\n";
  for (const auto& field : event.data) {
    text += field.key + "=";
    if (const auto* s = std::get_if<std::string>(&field.value)) text += *s;
    text += "\n";
  }
  return text;
}

std::string data_of(const Event& event, const std::string& key) {
  for (const auto& field : event.data) {
    if (field.key == key) {
      if (const auto* s = std::get_if<std::string>(&field.value)) return *s;
    }
  }
  return {};
}

struct Fixture {
  RecordingSink sink;
  std::unique_ptr<SecretInjector> injector;

  explicit Fixture(std::vector<std::string> hosts = {"api.openai.com"},
                   std::vector<std::string> other_hosts = {"api.github.com"}) {
    auto made = SecretInjector::create(
        {{"OPENAI_API_KEY", kValue, kPlaceholder, std::move(hosts)},
         {"GH_TOKEN", kOtherValue, kOtherPlaceholder, std::move(other_hosts)}},
        &sink);
    REQUIRE(made.ok());
    injector = std::move(*made);
  }

  TransformResult run(Request& request) {
    TransformResult result = injector->transform_request(request);
    for (const auto& event : sink.events) {
      CHECK(all_text(event).find(kValue) == std::string::npos);
      CHECK(all_text(event).find(kOtherValue) == std::string::npos);
      CHECK(event.type == EventType::kRequestTransform);
      CHECK(event.plugin == "secret_injector");
    }
    if (const auto* deny = std::get_if<Deny>(&result)) {
      CHECK(deny->reason.find(kValue) == std::string::npos);
      CHECK(deny->reason.find(kOtherValue) == std::string::npos);
    }
    return result;
  }
};

// An HTTPS request as the MITM proxy would describe it: SNI, Host and DNS name all `host`.
Request https_request(const std::string& host, const std::string& target,
                      std::vector<HeaderField> headers = {}) {
  Request r;
  r.protocol = Protocol::kHttp;
  r.host = host;
  r.sni = host;
  r.dns_name = host;
  r.destination = IpAddress::v4(93, 184, 216, 34);
  r.port = 443;
  r.method = "POST";
  r.target = target;
  r.headers = {{"Host", host}};
  for (auto& h : headers) r.headers.push_back(std::move(h));
  return r;
}

std::string header(const Request& r, const std::string& name) {
  for (const auto& h : r.headers) {
    if (h.name == name) return h.value;
  }
  return {};
}

bool denied(const TransformResult& result) {
  return std::holds_alternative<Deny>(result);
}

}  // namespace

TEST_CASE("secret_injector_injects_when_sni_host_and_dns_name_agree", "[secrets]") {
  Fixture f;
  Request r =
      https_request("api.openai.com", "/v1/chat", {{"Authorization", "Bearer " + kPlaceholder}});
  CHECK_FALSE(denied(f.run(r)));
  CHECK(header(r, "Authorization") == "Bearer " + kValue);
  REQUIRE(f.sink.events.size() == 1);
  CHECK(data_of(f.sink.events[0], "action") == "injected");
  CHECK(data_of(f.sink.events[0], "secret") == "OPENAI_API_KEY");
  CHECK(data_of(f.sink.events[0], "host") == "api.openai.com");
}

TEST_CASE("secret_injector_plain_http_injects_when_host_and_dns_name_agree", "[secrets]") {
  Fixture f;
  Request r = https_request("api.openai.com", "/", {{"X-Api-Key", kPlaceholder}});
  r.sni.clear();
  r.port = 80;
  CHECK_FALSE(denied(f.run(r)));
  CHECK(header(r, "X-Api-Key") == kValue);
}

TEST_CASE("secret_injector_blocks_when_sni_and_host_differ", "[secrets]") {
  Fixture f;
  // A client that asks TLS for evil.example but names the bound host in its Host header.
  Request r = https_request("api.openai.com", "/", {{"Authorization", "Bearer " + kPlaceholder}});
  r.sni = "evil.example";
  auto result = f.run(r);
  REQUIRE(denied(result));
  CHECK(std::get<Deny>(result).reason.find("OPENAI_API_KEY") != std::string::npos);
  CHECK(header(r, "Authorization") == "Bearer " + kPlaceholder);
  REQUIRE(f.sink.events.size() == 1);
  CHECK(data_of(f.sink.events[0], "action") == "blocked");
  CHECK(data_of(f.sink.events[0], "secret") == "OPENAI_API_KEY");
}

TEST_CASE("secret_injector_blocks_when_the_dns_name_differs_or_is_missing", "[secrets]") {
  Fixture f;
  Request other = https_request("api.openai.com", "/?k=" + kPlaceholder);
  other.dns_name = "attacker.example";  // the dialled address was resolved for another name
  CHECK(denied(f.run(other)));
  CHECK(other.target == "/?k=" + kPlaceholder);

  Request none = https_request("api.openai.com", "/?k=" + kPlaceholder);
  none.dns_name.clear();  // the guest dialled an address no DNS answer gave it for this name
  CHECK(denied(f.run(none)));
}

TEST_CASE("secret_injector_blocks_a_placeholder_headed_to_an_unbound_host", "[secrets]") {
  Fixture f;
  Request r = https_request("evil.example", "/collect", {{"Cookie", "k=" + kPlaceholder}});
  auto result = f.run(r);
  REQUIRE(denied(result));
  CHECK(std::get<Deny>(result).reason.find("unauthorized host") != std::string::npos);
  CHECK(std::get<Deny>(result).reason.find("OPENAI_API_KEY") != std::string::npos);
  CHECK(header(r, "Cookie") == "k=" + kPlaceholder);
}

TEST_CASE("secret_injector_wildcard_binds_subdomains_like_host_filter", "[secrets]") {
  Fixture f({"*.openai.com"});
  Request sub = https_request("api.openai.com", "/", {{"Authorization", kPlaceholder}});
  CHECK_FALSE(denied(f.run(sub)));
  CHECK(header(sub, "Authorization") == kValue);
  Request deep = https_request("a.b.openai.com", "/", {{"Authorization", kPlaceholder}});
  CHECK_FALSE(denied(f.run(deep)));
  Request apex = https_request("openai.com", "/", {{"Authorization", kPlaceholder}});
  CHECK(denied(f.run(apex)));  // "*.openai.com" never matches the apex, as in host_filter
  Request lookalike =
      https_request("api.openai.com.evil.example", "/", {{"Authorization", kPlaceholder}});
  CHECK(denied(f.run(lookalike)));
}

TEST_CASE("secret_injector_leaves_requests_without_placeholders_alone", "[secrets]") {
  // Bodies never reach the injector (Request has none): a placeholder resent in a chat history
  // travels in the body, so a request carrying it only there is forwarded untouched, whatever
  // its host. Likewise headers and target without a placeholder.
  Fixture f;
  Request r = https_request("evil.example", "/upload", {{"Content-Type", "application/json"}});
  Request before = r;
  CHECK_FALSE(denied(f.run(r)));
  CHECK(r.target == before.target);
  CHECK(r.headers.size() == before.headers.size());
  CHECK(f.sink.events.empty());
}

TEST_CASE("secret_injector_replaces_several_placeholders_in_one_header", "[secrets]") {
  Fixture f({"api.example.com"}, {"api.example.com"});
  Request r =
      https_request("api.example.com", "/",
                    {{"X-Keys", kPlaceholder + "," + kOtherPlaceholder + "," + kPlaceholder}});
  CHECK_FALSE(denied(f.run(r)));
  CHECK(header(r, "X-Keys") == kValue + "," + kOtherValue + "," + kValue);
  CHECK(f.sink.events.size() == 2);  // one event per secret injected
}

TEST_CASE("secret_injector_replaces_a_placeholder_inside_a_longer_value", "[secrets]") {
  Fixture f;
  Request r = https_request(
      "api.openai.com", "/",
      {{"Authorization", "Bearer " + kPlaceholder}, {"X-Wrapped", "pre" + kPlaceholder + "post"}});
  CHECK_FALSE(denied(f.run(r)));
  CHECK(header(r, "Authorization") == "Bearer " + kValue);
  CHECK(header(r, "X-Wrapped") == "pre" + kValue + "post");
}

TEST_CASE("secret_injector_replaces_in_the_url_path_and_query", "[secrets]") {
  Fixture f;
  Request r =
      https_request("api.openai.com", "/bot" + kPlaceholder + "/send?key=" + kPlaceholder + "&x=1");
  CHECK_FALSE(denied(f.run(r)));
  CHECK(r.target == "/bot" + kValue + "/send?key=" + kValue + "&x=1");
}

TEST_CASE("secret_injector_percent_encodes_unsafe_value_bytes_in_the_url_only", "[secrets]") {
  RecordingSink sink;
  auto made = SecretInjector::create({{"K", "a b#c&d", kPlaceholder, {"api.example.com"}}}, &sink);
  REQUIRE(made.ok());
  Request r = https_request("api.example.com", "/?k=" + kPlaceholder, {{"X-K", kPlaceholder}});
  CHECK_FALSE(denied((*made)->transform_request(r)));
  CHECK(r.target == "/?k=a%20b%23c&d");
  CHECK(header(r, "X-K") == "a b#c&d");
}

TEST_CASE("secret_injector_blocks_when_target_or_second_host_header_names_another_host",
          "[secrets]") {
  Fixture f;
  Request absolute = https_request("api.openai.com", "http://evil.example/?k=" + kPlaceholder);
  CHECK(denied(f.run(absolute)));
  Request same = https_request("api.openai.com", "https://API.openai.com:443/?k=" + kPlaceholder);
  CHECK_FALSE(denied(f.run(same)));
  Request two_hosts =
      https_request("api.openai.com", "/", {{"host", "evil.example"}, {"X-K", kPlaceholder}});
  CHECK(denied(f.run(two_hosts)));
}

TEST_CASE("secret_injector_ip_literal_host_must_be_the_dialled_address", "[secrets]") {
  Fixture f({"93.184.216.34"});
  Request r = https_request("93.184.216.34", "/", {{"X-K", kPlaceholder}});
  r.sni.clear();
  r.dns_name.clear();
  CHECK_FALSE(denied(f.run(r)));
  CHECK(header(r, "X-K") == kValue);
  Request elsewhere = https_request("93.184.216.34", "/", {{"X-K", kPlaceholder}});
  elsewhere.sni.clear();
  elsewhere.dns_name.clear();
  elsewhere.destination = IpAddress::v4(10, 9, 8, 7);
  CHECK(denied(f.run(elsewhere)));
}

TEST_CASE("secret_injector_blocks_a_placeholder_in_a_header_name", "[secrets]") {
  Fixture f;
  Request r = https_request("api.openai.com", "/", {{"X-" + kPlaceholder, "1"}});
  CHECK(denied(f.run(r)));
}

TEST_CASE("secret_injector_substitutes_nothing_when_any_secret_is_refused", "[secrets]") {
  Fixture f;
  // OPENAI_API_KEY may go to api.openai.com, GH_TOKEN may not: the request is refused whole.
  Request r = https_request(
      "api.openai.com", "/",
      {{"Authorization", "Bearer " + kPlaceholder}, {"X-Smuggle", kOtherPlaceholder}});
  auto result = f.run(r);
  REQUIRE(denied(result));
  CHECK(std::get<Deny>(result).reason.find("GH_TOKEN") != std::string::npos);
  CHECK(header(r, "Authorization") == "Bearer " + kPlaceholder);
  REQUIRE(f.sink.events.size() == 1);
  CHECK(data_of(f.sink.events[0], "secret") == "GH_TOKEN");
}

TEST_CASE("secret_injector_ignores_non_http_requests", "[secrets]") {
  Fixture f;
  Request r = https_request("evil.example", "/?k=" + kPlaceholder);
  r.protocol = Protocol::kTls;
  CHECK_FALSE(denied(f.run(r)));
  CHECK(f.sink.events.empty());
}

TEST_CASE("secret_injector_survives_hostile_input", "[secrets]") {
  Fixture f({"*"});
  std::string huge(1 << 20, 'A');
  std::string nul_and_binary("\0\xff\xfe\x80 \xc3(", 7);
  Request r = https_request("api.openai.com", "/" + nul_and_binary + kPlaceholder,
                            {{"X-Huge", huge + kPlaceholder + huge},
                             {nul_and_binary, nul_and_binary + kPlaceholder.substr(0, 20)},
                             {"X-Tail", kPlaceholder.substr(1) + kPlaceholder}});
  CHECK_FALSE(denied(f.run(r)));
  CHECK(header(r, "X-Huge") == huge + kValue + huge);
  CHECK(header(r, "X-Tail") == kPlaceholder.substr(1) + kValue);
  // A partial placeholder is not a placeholder.
  CHECK(header(r, nul_and_binary) == nul_and_binary + kPlaceholder.substr(0, 20));

  Request garbage = https_request("api.openai.com", "/", {{"X-K", kPlaceholder}});
  garbage.sni = nul_and_binary;
  garbage.dns_name = std::string(100000, '.');
  garbage.headers.push_back({"Host", nul_and_binary});
  CHECK(denied(f.run(garbage)));
  Request empty = https_request("", "", {{"X-K", kPlaceholder}});
  CHECK(denied(f.run(empty)));
}

TEST_CASE("secret_injector_refuses_bad_configuration", "[secrets]") {
  CHECK_FALSE(SecretInjector::create({{"K", kValue, kPlaceholder, {}}}, nullptr).ok());
  CHECK_FALSE(SecretInjector::create({{"K", kValue, kPlaceholder, {"bad host!"}}}, nullptr).ok());
  CHECK_FALSE(SecretInjector::create({{"K", kValue, "SHORT", {"a.com"}}}, nullptr).ok());
  CHECK_FALSE(SecretInjector::create({{"K", "v\r\nX: y", kPlaceholder, {"a.com"}}}, nullptr).ok());
  CHECK_FALSE(SecretInjector::create({{"A", kValue, kPlaceholder, {"a.com"}},
                                      {"B", kValue, kPlaceholder + "0", {"a.com"}}},
                                     nullptr)
                  .ok());
  auto bad = SecretInjector::create({{"K", kValue, kPlaceholder, {"bad host!"}}}, nullptr);
  CHECK(bad.error().message.find(kValue) == std::string::npos);
}

TEST_CASE("secret_injector_in_a_pipeline_denies_with_its_name", "[secrets]") {
  RecordingSink sink;
  Pipeline pipeline(&sink);
  auto made = SecretInjector::create({{"K", kValue, kPlaceholder, {"api.example.com"}}}, &sink);
  REQUIRE(made.ok());
  pipeline.add(std::move(*made));
  Request r = https_request("evil.example", "/?k=" + kPlaceholder);
  TransformVerdict verdict = pipeline.apply_request_transforms(r);
  CHECK_FALSE(verdict.allowed);
  CHECK(verdict.plugin == "secret_injector");
  CHECK(verdict.reason.find(kValue) == std::string::npos);
  REQUIRE(sink.decisions.size() == 1);
  CHECK(sink.decisions[0].reason.find(kValue) == std::string::npos);
}
