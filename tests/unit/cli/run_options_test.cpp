#include <stdlib.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli/run_options.h"

using namespace matchlock;
using namespace matchlock::cli;

namespace {
Result<RunOptions> parse(std::vector<std::string> flags) {
  std::vector<std::string> args = {"--image", "busybox"};
  args.insert(args.end(), flags.begin(), flags.end());
  return parse_run_options(args, false);
}
std::string error_of(std::vector<std::string> flags) {
  auto r = parse(std::move(flags));
  REQUIRE_FALSE(r.ok());
  return r.error().message;
}
}  // namespace

TEST_CASE("run --secret takes inline and host-env values", "[cli][secret]") {
  ::setenv("ML_TEST_TOKEN", "from-host-env", 1);
  auto r = parse({"--secret", "API_KEY=sk-inline@api.example.com,*.example.org", "--secret",
                  "ML_TEST_TOKEN@api.example.com"});
  ::unsetenv("ML_TEST_TOKEN");
  REQUIRE(r.ok());
  const auto& s = r->sandbox.secrets;
  REQUIRE(s.size() == 2);
  CHECK(s[0].name == "API_KEY");
  CHECK(s[0].value == "sk-inline");
  CHECK(s[0].hosts == std::vector<std::string>{"api.example.com", "*.example.org"});
  CHECK(s[1].value == "from-host-env");
  CHECK(s[0].placeholder != s[1].placeholder);
}

TEST_CASE("run --secret errors name the flag and never the value", "[cli][secret]") {
  ::unsetenv("ML_TEST_UNSET");
  CHECK(error_of({"--secret", "ML_TEST_UNSET@a.com"}) ==
        "--secret ML_TEST_UNSET: environment variable ML_TEST_UNSET is not set");
  for (std::vector<std::string> flags : std::vector<std::vector<std::string>>{
           {"--secret", "K=TOPSECRET"},
           {"--secret", "K=TOPSECRET@bad host"},
           {"--secret", "K=TOPSECRET@"},
           {"--secret", "=TOPSECRET@a.com"},
           {"--secret", "K=TOPSECRET@a.com", "--secret", "K=TOPSECRET2@b.com"},
           {"--no-network", "--secret", "K=TOPSECRET@a.com"}}) {
    std::string e = error_of(flags);
    INFO(e);
    CHECK(e.find("--secret") != std::string::npos);
    CHECK(e.find("TOPSECRET") == std::string::npos);
  }
}

TEST_CASE("run plugin flags are validated and stored", "[cli][plugins]") {
  auto r = parse({"--local-model-backend", "127.0.0.1:11434", "--local-model-route",
                  "api.openai.com/gpt-4o=llama3", "--usage-log-path", "usage.jsonl",
                  "--budget-limit-usd", "2.5", "--event-log", "/tmp/events.jsonl", "--agent-system",
                  "claude-code", "--run-id", "run-42"});
  REQUIRE(r.ok());
  const auto& p = r->sandbox.plugins;
  CHECK(p.local_model_backend == "127.0.0.1:11434");
  REQUIRE(p.model_routes.size() == 1);
  CHECK(p.model_routes[0].target_model == "llama3");
  CHECK(p.usage_log_path.starts_with("/"));  // made absolute
  CHECK(p.usage_log_path.ends_with("/usage.jsonl"));
  CHECK(*p.budget_limit_usd == 2.5);
  CHECK(p.event_log_path == "/tmp/events.jsonl");
  CHECK(p.agent_system == "claude-code");
  CHECK(p.run_id == "run-42");
}

TEST_CASE("run plugin flag errors name the flag", "[cli][plugins]") {
  CHECK(error_of({"--budget-limit-usd", "5"}).starts_with("--budget-limit-usd needs"));
  CHECK(error_of({"--usage-log-path", "u", "--budget-limit-usd", "0"})
            .starts_with("--budget-limit-usd"));
  CHECK(error_of({"--usage-log-path", "u", "--budget-limit-usd", "nan"})
            .starts_with("--budget-limit-usd"));
  CHECK(error_of({"--plugin-config", "/nonexistent/plugins.json"}).starts_with("--plugin-config"));
  CHECK(error_of({"--plugin-config", "/tmp"}).starts_with("--plugin-config"));
  CHECK(error_of({"--local-model-backend", "nope"}).starts_with("--local-model-backend"));
  CHECK(error_of({"--local-model-route", "x"}).starts_with("--local-model-route"));
  CHECK(error_of({"--local-model-route", "a.com/m=n"}).find("no backend") != std::string::npos);
  CHECK(error_of({"--run-id", "a b"}).starts_with("--run-id"));
  CHECK(error_of({"--agent-system", ""}).starts_with("--agent-system"));
  CHECK(error_of({"--no-network", "--event-log", "/tmp/e"}) ==
        "--no-network cannot be combined with --event-log");
  CHECK(error_of({"--no-network", "--local-model-route", "a.com/m=n@h:1"}) ==
        "--no-network cannot be combined with --local-model-route");
}

TEST_CASE("run -v and --workspace fill the VFS options", "[cli][mount]") {
  auto r = parse({"-v", "/tmp:data", "--volume", "/:/srv/all:ro", "--workspace", "/srv"});
  REQUIRE(r.ok());
  const auto& vfs = r->sandbox.vfs;
  CHECK(vfs.workspace == "/srv");
  REQUIRE(vfs.mounts.size() == 2);
  CHECK(vfs.mounts[0].host_path == "/tmp");
  CHECK(vfs.mounts[0].guest_path == "/srv/data");
  CHECK(vfs.mounts[0].mode == sandbox::MountMode::kOverlay);
  CHECK(vfs.mounts[1].mode == sandbox::MountMode::kReadOnly);
  // No flags: the default workspace, no mounts (the guest still gets an empty tree there).
  auto plain = parse({});
  REQUIRE(plain.ok());
  CHECK(plain->sandbox.vfs.workspace == "/workspace");
  CHECK(plain->sandbox.vfs.mounts.empty());
}

TEST_CASE("run -v errors name the value", "[cli][mount]") {
  CHECK(error_of({"-v", "/nonexistent/q:x"}) ==
        "invalid volume mount \"/nonexistent/q:x\": host path does not exist");
  CHECK(error_of({"-v", "/tmp:/x"}).rfind("invalid volume mount \"/tmp:/x\": ", 0) == 0);
  CHECK(error_of({"--workspace", "/proc"}).rfind("invalid --workspace \"/proc\"", 0) == 0);
  CHECK(error_of({"--disk", "/nonexistent/a:/b"})
            .rfind("invalid --disk \"/nonexistent/a:/b\": ", 0) == 0);
}

TEST_CASE("run --disk: repeatable, checked as a set against the workspace", "[cli][disk]") {
  char dir[] = "/tmp/matchlock-run-disk-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  const std::string a = std::string(dir) + "/a.img", b = std::string(dir) + "/b.img";
  for (const auto& path : {a, b}) {
    std::string image(4096, '\0');
    image[1080] = '\x53';
    image[1081] = '\xEF';
    std::ofstream(path, std::ios::binary) << image;
  }
  auto r = parse({"--disk", a + ":/data", "--disk", b + ":/ref:ro"});
  REQUIRE(r.ok());
  REQUIRE(r->sandbox.disks.size() == 2);
  CHECK(r->sandbox.disks[0].guest_path == "/data");
  CHECK_FALSE(r->sandbox.disks[0].readonly);
  CHECK(r->sandbox.disks[1].host_path == b);
  CHECK(r->sandbox.disks[1].readonly);

  CHECK(error_of({"--disk", a + ":/data", "--disk", a + ":/other"}) ==
        "invalid --disk \"" + a + ":/other\": the same image as an earlier disk: " + a);
  CHECK(error_of({"--disk", a + ":/d", "--disk", b + ":/d"}).find("overlaps the mount point") !=
        std::string::npos);
  CHECK(error_of({"--disk", a + ":/workspace/x"}) ==
        "invalid --disk \"" + a +
            ":/workspace/x\": \"/workspace/x\" is shadowed by the workspace "
            "\"/workspace\"");
  CHECK(error_of({"--workspace", "/w", "--disk", a + ":/w/x"}).find("shadowed by the workspace") !=
        std::string::npos);
  CHECK(parse({"--workspace", "/w", "--disk", a + ":/workspace/x"}).ok());
  std::filesystem::remove_all(dir);
}

TEST_CASE("run --timeout and --graceful-shutdown: overflow is an error or saturates, never wraps",
          "[cli][duration]") {
  CHECK(error_of({"--timeout", "99999999999999999999"}) ==
        "invalid --timeout \"99999999999999999999\": duration is too long");
  CHECK_THAT(error_of({"--timeout", "1e30s"}), Catch::StartsWith("invalid --timeout \"1e30s\": "));
  CHECK_THAT(error_of({"--graceful-shutdown", "99999999999999999999"}),
             Catch::StartsWith("invalid --graceful-shutdown "));
  // Fits in 64 bits as seconds, not as milliseconds: a long wait, not a wrapped short one.
  auto r = parse({"--graceful-shutdown", "18446744073709551615"});
  REQUIRE(r.ok());
  CHECK(r->graceful_shutdown_ms >= 100ull * 365 * 24 * 3600 * 1000);
  r = parse({"--timeout", "18446744073709551615"});
  REQUIRE(r.ok());
  CHECK(r->timeout_seconds == 18446744073709551615ull);  // the host caps it (kMaxTimeoutSeconds)
}

TEST_CASE("run --env-file refuses a directory", "[cli][env]") {
  CHECK(error_of({"--env-file", "/tmp"}) == "--env-file /tmp: not a regular file");
}
