#include "sandbox/secret_spec.h"

#include <catch2/catch.hpp>

#include <map>

using namespace matchlock;
using namespace matchlock::sandbox;

namespace {

constexpr const char* kValue = "sk-live-9f8e7d6c5b4a";

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string error_of(std::string_view spec, const EnvLookup& env = env_of({})) {
  auto r = parse_secret_spec(spec, env);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::kInvalidArgument);
  CHECK(r.error().message.starts_with("--secret"));
  return r.error().message;
}

}  // namespace

TEST_CASE("secret_spec_inline_value_with_hosts", "[secrets]") {
  auto r = parse_secret_spec(
      std::string("OPENAI_API_KEY=") + kValue + "@api.openai.com,*.openai.com", env_of({}));
  REQUIRE(r.ok());
  CHECK(r->name == "OPENAI_API_KEY");
  CHECK(r->value == kValue);
  CHECK(r->hosts == std::vector<std::string>{"api.openai.com", "*.openai.com"});
  CHECK(is_secret_placeholder(r->placeholder));
}

TEST_CASE("secret_spec_value_from_the_host_environment", "[secrets]") {
  auto r = parse_secret_spec("GH_TOKEN@api.github.com", env_of({{"GH_TOKEN", kValue}}));
  REQUIRE(r.ok());
  CHECK(r->name == "GH_TOKEN");
  CHECK(r->value == kValue);
  CHECK(r->hosts == std::vector<std::string>{"api.github.com"});
}

TEST_CASE("secret_spec_value_may_contain_at_and_equals", "[secrets]") {
  auto r = parse_secret_spec("DSN=user@example=x@db.example.com", env_of({}));
  REQUIRE(r.ok());
  CHECK(r->value == "user@example=x");
  CHECK(r->hosts == std::vector<std::string>{"db.example.com"});
}

TEST_CASE("secret_spec_unset_variable_is_an_error_naming_it", "[secrets]") {
  std::string message = error_of("GH_TOKEN@api.github.com");
  CHECK(message.find("GH_TOKEN") != std::string::npos);
  CHECK(message.find("not set") != std::string::npos);
  CHECK(error_of("GH_TOKEN@api.github.com", env_of({{"GH_TOKEN", ""}})).find("empty") !=
        std::string::npos);
}

TEST_CASE("secret_spec_rejects_bad_names_and_missing_hosts", "[secrets]") {
  error_of(std::string("=") + kValue + "@example.com");
  error_of(std::string("1ABC=") + kValue + "@example.com");
  error_of(std::string("A-B=") + kValue + "@example.com");
  error_of(std::string("KEY=") + kValue);
  error_of(std::string("KEY=") + kValue + "@");
  error_of(std::string("KEY=") + kValue + "@a.com,,b.com");
  error_of("KEY=@example.com");
  error_of("KEY");
  CHECK(error_of(std::string("KEY=") + kValue).find("@*") != std::string::npos);
}

TEST_CASE("secret_spec_env_form_names_the_bad_host", "[secrets]") {
  std::string message = error_of("GH_TOKEN@api.github.com:443", env_of({{"GH_TOKEN", kValue}}));
  CHECK(message.find("api.github.com:443") != std::string::npos);
  CHECK(message.find(kValue) == std::string::npos);
}

TEST_CASE("secret_spec_errors_never_contain_the_value", "[secrets]") {
  // Every way a spec holding the value can be wrong, including a value whose tail lands where
  // the hosts should be and a value typed without NAME=.
  const std::string v = kValue;
  std::vector<std::string> bad = {
      "KEY=" + v,
      "KEY=" + v + "@",
      "KEY=" + v + "@bad host!",
      "KEY=" + v + "@a.com,,",
      "KEY=" + v + "@[::1]:80",
      "KEY=" + v + "\n@example.com",
      "KEY=" + v + "\r\nX: y@example.com",
      std::string("KEY=") + v + std::string(1, '\0') + "@example.com",
      "1KEY=" + v + "@example.com",
      v + "@example.com",
      v,
      "KEY=sk-live@9f8e7d6c5b4a!",  // forgot the hosts: the value's tail stands in for them
  };
  for (const auto& spec : bad) {
    INFO(spec);
    std::string message = error_of(spec);
    CHECK(message.find(v) == std::string::npos);
    CHECK(message.find("9f8e7d6c5b4a") == std::string::npos);
  }
}

TEST_CASE("secret_spec_env_value_never_appears_in_errors", "[secrets]") {
  auto env = env_of({{"KEY", std::string(kValue) + "\n"}});
  std::string message = error_of("KEY@example.com", env);
  CHECK(message.find(kValue) == std::string::npos);
}

TEST_CASE("secret_spec_redacted_view_holds_name_and_hosts_only", "[secrets]") {
  auto r = parse_secret_spec(std::string("KEY=") + kValue + "@example.com", env_of({}));
  REQUIRE(r.ok());
  RedactedSecret redacted = r->redacted();
  CHECK(redacted.name == "KEY");
  CHECK(redacted.hosts == std::vector<std::string>{"example.com"});
  CHECK(redacted.name.find(kValue) == std::string::npos);
  for (const auto& h : redacted.hosts) CHECK(h.find(kValue) == std::string::npos);
}

TEST_CASE("secret_placeholders_are_fresh_lowercase_hex", "[secrets]") {
  auto a = make_secret_placeholder();
  auto b = make_secret_placeholder();
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->size() == 15 + 32);
  CHECK(a->starts_with("SANDBOX_SECRET_"));
  CHECK(is_secret_placeholder(*a));
  CHECK(*a != *b);
  CHECK_FALSE(is_secret_placeholder("SANDBOX_SECRET_0123456789ABCDEF0123456789abcdef"));
  CHECK_FALSE(is_secret_placeholder("SANDBOX_SECRET_0123"));
}

TEST_CASE("secret_specs_refuse_a_name_given_twice", "[secrets]") {
  auto r = parse_secret_specs({"KEY=a@a.com", "KEY=b@b.com"}, env_of({}));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("KEY") != std::string::npos);
  auto ok = parse_secret_specs({"A=a@a.com", "B=b@b.com"}, env_of({}));
  REQUIRE(ok.ok());
  REQUIRE(ok->size() == 2);
  CHECK((*ok)[0].placeholder != (*ok)[1].placeholder);
}

TEST_CASE("secret_spec_survives_hostile_input", "[secrets]") {
  std::string huge(1 << 20, 'x');
  error_of("KEY=" + huge);
  error_of(huge + "@" + huge);
  error_of(std::string("K\0EY=v@a.com", 12));
  error_of("KEY@\xff\xfe.com", env_of({{"KEY", "v"}}));
  error_of("KEY=v@a.com,\xc3(");
  auto many_hosts = parse_secret_spec("KEY=v@" + std::string(10000, ','), env_of({}));
  CHECK_FALSE(many_hosts.ok());
}

TEST_CASE("secret values leave the environment children inherit", "[sandbox][secrets]") {
  ::setenv("ML_TEST_SECRET_ENV", "sk-value-123", 1);
  ::setenv("ML_TEST_HOLDS_SECRET", "Bearer sk-value-123 and more", 1);
  ::setenv("ML_TEST_INNOCENT", "sk-value-12", 1);  // a prefix is not the value
  Secret secret{"ML_TEST_SECRET_ENV", "sk-value-123", {"api.example.com"}, "placeholder"};
  remove_secret_values_from_environment({secret});
  CHECK(std::getenv("ML_TEST_SECRET_ENV") == nullptr);
  CHECK(std::getenv("ML_TEST_HOLDS_SECRET") == nullptr);
  REQUIRE(std::getenv("ML_TEST_INNOCENT") != nullptr);
  CHECK(std::string(std::getenv("ML_TEST_INNOCENT")) == "sk-value-12");
  ::unsetenv("ML_TEST_INNOCENT");
}
