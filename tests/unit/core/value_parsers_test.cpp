#include "core/value_parsers.h"
#include "core/printable.h"

#include <catch2/catch.hpp>
#include <map>
#include <string>

using namespace matchlock;

namespace {

// A fake host environment so tests never depend on the real one.
EnvLookup fake_host(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& key) -> std::optional<std::string> {
    auto it = vars.find(key);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

template <typename T>
std::string error_of(const Result<T>& r) {
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::kInvalidArgument);
  return r.error().message;
}

const EnvLookup kNoHost = fake_host({});

}  // namespace

// --- cpus ---

TEST_CASE("cpus accepts whole and fractional counts", "[core][cpus]") {
  CHECK(*parse_cpus("1", "--cpus", 2) == 1.0);
  CHECK(*parse_cpus("0.5", "--cpus", 2) == 0.5);
  CHECK(*parse_cpus("2", "--cpus", 2) == 2.0);
}

TEST_CASE("cpus rejects garbage, zero, negatives and non-finite values", "[core][cpus]") {
  CHECK(error_of(parse_cpus("abc", "--cpus", 2)) ==
        "invalid --cpus \"abc\": expected a positive number");
  for (const char* bad : {"", "0", "-1", "nan", "inf", "1e999", "1x", " 1", "0x2"}) {
    INFO(bad);
    CHECK_THAT(error_of(parse_cpus(bad, "--cpus", 2)),
               Catch::EndsWith(": expected a positive number"));
  }
}

TEST_CASE("cpus above the host count is rejected", "[core][cpus]") {
  CHECK(error_of(parse_cpus("64", "--cpus", 2)) == "--cpus 64 exceeds the 2 host CPUs");
  CHECK(error_of(parse_cpus("1.5", "--cpus", 1)) == "--cpus 1.5 exceeds the 1 host CPU");
}

TEST_CASE("cpus is not capped when the host count is unknown", "[core][cpus]") {
  CHECK(*parse_cpus("64", "cpus", 0) == 64.0);
}

// --- sizes ---

TEST_CASE("size without suffix is MiB", "[core][size]") {
  CHECK(*parse_size_mib("512", "--memory", 1, 1 << 20) == 512);
}

TEST_CASE("size with M, m, MiB or MB suffix is MiB", "[core][size]") {
  for (const char* s : {"512M", "512m", "512MiB", "512MB", "512mb"}) {
    INFO(s);
    CHECK(*parse_size_mib(s, "--memory", 1, 1 << 20) == 512);
  }
}

TEST_CASE("size with G suffix is GiB", "[core][size]") {
  for (const char* s : {"2G", "2g", "2GiB", "2GB"}) {
    INFO(s);
    CHECK(*parse_size_mib(s, "--disk-size", 1, 1 << 20) == 2048);
  }
}

TEST_CASE("size rejects zero, negatives, garbage and unknown suffixes", "[core][size]") {
  const std::string expected =
      ": expected a positive size in MiB, or with an M or G suffix (e.g. 512, 512M, 2G)";
  CHECK(error_of(parse_size_mib("abc", "--memory", 1, 100)) ==
        "invalid --memory \"abc\"" + expected);
  for (const char* bad : {"0", "0G", "-5", "", "5T", "5 M", "1.5G", "M", "+5"}) {
    INFO(bad);
    CHECK_THAT(error_of(parse_size_mib(bad, "--memory", 1, 100)), Catch::EndsWith(expected));
  }
}

TEST_CASE("size rejects values that overflow", "[core][size]") {
  CHECK(error_of(parse_size_mib("99999999999999999999", "--memory", 1, 100)) ==
        "invalid --memory \"99999999999999999999\": size is too large");
  CHECK(error_of(parse_size_mib("18014398509481984G", "--memory", 1, 100)) ==
        "invalid --memory \"18014398509481984G\": size is too large");
}

TEST_CASE("size outside the range names the range", "[core][size]") {
  CHECK(error_of(parse_size_mib("64G", "--memory", 128, 16384)) ==
        "invalid --memory \"64G\": must be between 128 MiB and 16384 MiB");
  CHECK(error_of(parse_size_mib("64", "--memory", 128, 16384)) ==
        "invalid --memory \"64\": must be between 128 MiB and 16384 MiB");
  CHECK(*parse_size_mib("128", "--memory", 128, 16384) == 128);
  CHECK(*parse_size_mib("16G", "--memory", 128, 16384) == 16384);
}

// --- durations ---

TEST_CASE("duration as plain integer is seconds, 0 allowed", "[core][duration]") {
  CHECK(*parse_duration_seconds("300", "--timeout") == 300);
  CHECK(*parse_duration_seconds("0", "--timeout") == 0);
}

TEST_CASE("duration accepts s, m, h and combinations", "[core][duration]") {
  CHECK(*parse_duration_seconds("30s", "--timeout") == 30);
  CHECK(*parse_duration_seconds("5m", "--timeout") == 300);
  CHECK(*parse_duration_seconds("1h", "--timeout") == 3600);
  CHECK(*parse_duration_seconds("1h30m", "--timeout") == 5400);
  CHECK(*parse_duration_seconds("1h2m3s", "--timeout") == 3723);
  CHECK(*parse_duration_seconds("0s", "--timeout") == 0);
}

TEST_CASE("negative duration is rejected", "[core][duration]") {
  CHECK(error_of(parse_duration_seconds("-5", "--timeout")) ==
        "invalid --timeout \"-5\": must not be negative");
  CHECK(error_of(parse_duration_seconds("-1m", "--timeout")) ==
        "invalid --timeout \"-1m\": must not be negative");
}

TEST_CASE("garbage duration is rejected", "[core][duration]") {
  CHECK(error_of(parse_duration_seconds("abc", "--timeout")) ==
        "invalid --timeout \"abc\": expected seconds or a duration like 30s, 5m or 1h30m");
  for (const char* bad : {"", "5x", "1h30", "30m1h", "1m1m", "1.5h", "h", "5 s", "5ms", "+5"}) {
    INFO(bad);
    CHECK_THAT(error_of(parse_duration_seconds(bad, "--timeout")),
               Catch::EndsWith("expected seconds or a duration like 30s, 5m or 1h30m"));
  }
}

TEST_CASE("overflowing duration is rejected", "[core][duration]") {
  CHECK(error_of(parse_duration_seconds("99999999999999999999", "--timeout")) ==
        "invalid --timeout \"99999999999999999999\": duration is too long");
  CHECK(error_of(parse_duration_seconds("9999999999999999h", "--timeout")) ==
        "invalid --timeout \"9999999999999999h\": duration is too long");
}

// --- env ---

TEST_CASE("env KEY=V splits at the first '='", "[core][env]") {
  auto kv = parse_env_assignment("A=b=c", kNoHost);
  REQUIRE(kv.ok());
  CHECK(kv->first == "A");
  CHECK(kv->second == "b=c");
}

TEST_CASE("env KEY= is an empty value", "[core][env]") {
  auto kv = parse_env_assignment("_EMPTY=", kNoHost);
  REQUIRE(kv.ok());
  CHECK(kv->first == "_EMPTY");
  CHECK(kv->second.empty());
}

TEST_CASE("env bare KEY takes the host value", "[core][env]") {
  auto kv = parse_env_assignment("HOME", fake_host({{"HOME", "/root"}}));
  REQUIRE(kv.ok());
  CHECK(kv->second == "/root");
}

TEST_CASE("env bare KEY unset on the host is an error", "[core][env]") {
  CHECK(error_of(parse_env_assignment("KEY", kNoHost)) ==
        "invalid environment variable \"KEY\": not set on the host");
}

TEST_CASE("env name must be a valid identifier", "[core][env]") {
  CHECK_THAT(error_of(parse_env_assignment("1X=v", kNoHost)),
             Catch::StartsWith("invalid environment variable \"1X\": name must start"));
  CHECK_THAT(error_of(parse_env_assignment("A-B", kNoHost)),
             Catch::StartsWith("invalid environment variable \"A-B\": "));
  CHECK_THAT(error_of(parse_env_assignment("A B=1", kNoHost)),
             Catch::StartsWith("invalid environment variable \"A B\": "));
  CHECK(error_of(parse_env_assignment("=v", kNoHost)) ==
        "invalid environment variable \"\": name is empty");
  CHECK(error_of(parse_env_assignment("", kNoHost)) ==
        "invalid environment variable \"\": name is empty");
}

TEST_CASE("env errors never echo the value", "[core][env]") {
  const std::string msg = error_of(parse_env_assignment("9TOKEN=s3cret", kNoHost));
  CHECK(msg.find("s3cret") == std::string::npos);
}

TEST_CASE("env value with a NUL byte is rejected", "[core][env]") {
  using namespace std::string_view_literals;
  CHECK(error_of(parse_env_assignment("A=x\0y"sv, kNoHost)) ==
        "invalid environment variable \"A\": value contains a NUL byte");
}

TEST_CASE("env-file parses assignments, skipping blanks and comments", "[core][env]") {
  const std::string contents =
      "# comment\n"
      "\n"
      "   \n"
      "A=1\n"
      "  B=two words  \n"
      "\t# indented comment\n"
      "C=\"quoted\"\n"
      "D=\n"
      "  HOSTVAR  \n"
      "E=x=y";
  auto env = parse_env_file(contents, "/x/.env", fake_host({{"HOSTVAR", "from-host"}}));
  REQUIRE(env.ok());
  const std::vector<EnvVar> expected = {{"A", "1"}, {"B", "two words  "},     {"C", "\"quoted\""},
                                        {"D", ""},  {"HOSTVAR", "from-host"}, {"E", "x=y"}};
  CHECK(*env == expected);
}

TEST_CASE("env-file later lines override earlier ones", "[core][env]") {
  auto env = parse_env_file("A=1\nB=2\nA=3\n", "f", kNoHost);
  REQUIRE(env.ok());
  const std::vector<EnvVar> expected = {{"A", "3"}, {"B", "2"}};
  CHECK(*env == expected);
}

TEST_CASE("env-file accepts CRLF line endings", "[core][env]") {
  auto env = parse_env_file("A=1\r\nB=2\r\n", "f", kNoHost);
  REQUIRE(env.ok());
  const std::vector<EnvVar> expected = {{"A", "1"}, {"B", "2"}};
  CHECK(*env == expected);
}

TEST_CASE("empty env-file yields no variables", "[core][env]") {
  auto env = parse_env_file("", "f", kNoHost);
  REQUIRE(env.ok());
  CHECK(env->empty());
}

TEST_CASE("env-file errors name the file and line", "[core][env]") {
  CHECK_THAT(error_of(parse_env_file("A=1\n# c\n1X=2\n", "/x/.env", kNoHost)),
             Catch::StartsWith("--env-file /x/.env:3: invalid environment variable \"1X\": "));
  CHECK(error_of(parse_env_file("A=1\nMISSING\n", "/x/.env", kNoHost)) ==
        "--env-file /x/.env:2: invalid environment variable \"MISSING\": not set on the host");
  CHECK_THAT(error_of(parse_env_file("KEY =v\n", "/x/.env", kNoHost)),
             Catch::StartsWith("--env-file /x/.env:1: invalid environment variable \"KEY \""));
}

TEST_CASE("upsert_env replaces in place and appends new keys", "[core][env]") {
  std::vector<EnvVar> env = {{"A", "1"}, {"B", "2"}};
  upsert_env(env, {"A", "9"});
  upsert_env(env, {"C", "3"});
  const std::vector<EnvVar> expected = {{"A", "9"}, {"B", "2"}, {"C", "3"}};
  CHECK(env == expected);
}

// --- user ---

TEST_CASE("user spec accepts name, uid, uid:gid and name:group", "[core][user]") {
  for (const char* ok : {"root", "1000", "1000:1000", "app:staff", "www-data", "a.b_c",
                         "1000:staff", "4294967294"}) {
    INFO(ok);
    CHECK(validate_user_spec(ok).ok());
  }
}

TEST_CASE("user spec rejects malformed specs", "[core][user]") {
  CHECK(error_of(validate_user_spec("a:b:c")) ==
        "invalid --user \"a:b:c\": expected name, uid, uid:gid or name:group");
  for (const char* bad : {"", ":", "a:", ":b", "a b", "-rf", "a:-g", "na$me", "a::b"}) {
    INFO(bad);
    CHECK_THAT(error_of(validate_user_spec(bad)),
               Catch::EndsWith(": expected name, uid, uid:gid or name:group"));
  }
}

TEST_CASE("user spec rejects numeric ids beyond the uid range", "[core][user]") {
  CHECK_THAT(error_of(validate_user_spec("4294967295")),
             Catch::StartsWith("invalid --user \"4294967295\": id out of range"));
  CHECK_THAT(error_of(validate_user_spec("1:99999999999999999999")),
             Catch::Contains("id out of range"));
}

// --- hostname ---

TEST_CASE("hostname accepts RFC 1123 names", "[core][hostname]") {
  for (const char* ok : {"vm-1234abcd", "a", "web.example.com", "0abc", "A-b.C1"}) {
    INFO(ok);
    CHECK(validate_hostname(ok).ok());
  }
  CHECK(validate_hostname(std::string(63, 'a')).ok());
}

TEST_CASE("hostname rejects bad characters and edge hyphens", "[core][hostname]") {
  for (const char* bad : {"-a", "a-", "a_b", "a b", "a.-b", "h\xc3\xa9"}) {
    INFO(bad);
    CHECK_THAT(error_of(validate_hostname(bad)),
               Catch::Contains("labels may contain only letters, digits and '-'"));
  }
}

TEST_CASE("hostname rejects empty names and empty labels", "[core][hostname]") {
  CHECK(error_of(validate_hostname("")) == "invalid --hostname \"\": must not be empty");
  for (const char* bad : {".", "a..b", "a.", ".a"}) {
    INFO(bad);
    CHECK_THAT(error_of(validate_hostname(bad)), Catch::EndsWith(": empty label"));
  }
}

TEST_CASE("hostname rejects labels over 63 and names over 253 characters", "[core][hostname]") {
  CHECK_THAT(error_of(validate_hostname(std::string(64, 'a'))),
             Catch::EndsWith(": label longer than 63 characters"));
  std::string long_name;
  for (int i = 0; i < 5; ++i) long_name += std::string(50, 'a') + ".";
  long_name += "abcd";  // 259 characters
  CHECK_THAT(error_of(validate_hostname(long_name)),
             Catch::EndsWith(": longer than 253 characters"));
}

// --- guest paths ---

TEST_CASE("absolute guest path is accepted", "[core][path]") {
  CHECK(validate_absolute_guest_path("/", "-w").ok());
  CHECK(validate_absolute_guest_path("/work/dir", "-w").ok());
  CHECK(validate_absolute_guest_path("/" + std::string(4095, 'a'), "-w").ok());
}

TEST_CASE("relative or empty guest path is rejected", "[core][path]") {
  CHECK(error_of(validate_absolute_guest_path("rel/dir", "--workdir")) ==
        "invalid --workdir \"rel/dir\": must be an absolute path");
  CHECK(error_of(validate_absolute_guest_path("", "--workdir")) ==
        "invalid --workdir \"\": must be an absolute path");
}

TEST_CASE("guest path with a NUL byte is rejected without echoing it", "[core][path]") {
  using namespace std::string_view_literals;
  CHECK(error_of(validate_absolute_guest_path("/a\0b"sv, "--workdir")) ==
        "invalid --workdir: path contains a NUL byte");
}

TEST_CASE("guest path longer than 4096 bytes is rejected", "[core][path]") {
  CHECK(error_of(validate_absolute_guest_path("/" + std::string(4096, 'a'), "--workdir")) ==
        "invalid --workdir: path is longer than 4096 bytes");
}

TEST_CASE("printable_escapes_terminal_control_characters_but_keeps_lines", "[core]") {
  CHECK(matchlock::printable("a\x1b[31mb") == "a\\x1b[31mb");
  CHECK(matchlock::printable(std::string("nul\0x", 5)) == "nul\\x00x");
  CHECK(matchlock::printable("del\x7f") == "del\\x7f");
  CHECK(matchlock::printable("line 1\nline\t2") == "line 1\nline\t2");
  CHECK(matchlock::printable("caf\xc3\xa9") == "caf\xc3\xa9");  // UTF-8 text passes
  // C1 controls in UTF-8 (U+009B is a CSI to xterm) are escaped; other code points are not.
  CHECK(matchlock::printable("a\xc2\x9b"
                             "31mb") == "a\\xc2\\x9b31mb");
  CHECK(matchlock::printable("\xc2\x80\xc2\x9f\xc2\xa0") == "\\xc2\\x80\\xc2\\x9f\xc2\xa0");
  CHECK(matchlock::printable("\xc4\x9b") == "\xc4\x9b");  // "ě": a 0x9b that is not C1
  CHECK(matchlock::printable("end\xc2") == "end\xc2");
}
