#include "dockerbuild/image_config_writer.h"

#include <catch2/catch.hpp>

#include "image/image_config.h"
#include "image/image_store.h"

using namespace matchlock::dockerbuild;

namespace {

constexpr const char* kDockerConfig = R"({
  "architecture": "arm64", "variant": "v8", "os": "linux", "os.version": "6.1",
  "author": "someone", "docker_version": "24.0.0",
  "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) CMD [\"sh\"]"]},
  "created": "2024-01-02T03:04:05.123456789Z",
  "config": {
    "Hostname": "", "AttachStdin": false,
    "Env": ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"],
    "User": "app:app", "WorkingDir": "/srv",
    "Entrypoint": ["/entry.sh"], "Cmd": ["serve", "--port", "80"],
    "Shell": ["/bin/bash", "-c"],
    "Labels": {"org.example.b": "2", "org.example.a": "1"},
    "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
    "Volumes": {"/data": {}},
    "StopSignal": "SIGQUIT",
    "Healthcheck": {"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 30000000000,
                    "Timeout": 5000000000, "StartPeriod": 1000000000,
                    "StartInterval": 2000000000, "Retries": 3},
    "OnBuild": ["RUN echo hi"]
  },
  "rootfs": {"type": "layers", "diff_ids": ["sha256:aaaa"]},
  "history": [
    {"created": "2024-01-02T03:04:05.5Z", "created_by": "/bin/sh -c #(nop) ADD file:x in /"},
    {"created": "2024-01-02T05:04:05+02:00", "created_by": "CMD [\"sh\"]", "empty_layer": true,
     "comment": "buildkit.dockerfile.v0"}
  ]
})";

ImageSettings full_settings() {
  ImageSettings s;
  s.env = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8"};
  s.user = "app:app";
  s.workdir = "/srv";
  s.entrypoint = std::vector<std::string>{"/entry.sh"};
  s.cmd = std::vector<std::string>{"serve", "--port", "80"};
  s.shell = {"/bin/bash", "-c"};
  s.labels = {{"org.example.a", "1"}, {"org.example.b", "2"}};
  s.exposed_ports = {"53/udp", "80/tcp"};
  s.volumes = {"/data"};
  s.stop_signal = "SIGQUIT";
  Healthcheck hc;
  hc.test = {"CMD-SHELL", "curl -f localhost"};
  hc.interval_ns = 30'000'000'000;
  hc.timeout_ns = 5'000'000'000;
  hc.start_period_ns = 1'000'000'000;
  hc.start_interval_ns = 2'000'000'000;
  hc.retries = 3;
  s.healthcheck = hc;
  s.onbuild = {"RUN echo hi"};
  return s;
}

void check_equal(const ImageSettings& a, const ImageSettings& b) {
  CHECK(a.env == b.env);
  CHECK(a.user == b.user);
  CHECK(a.workdir == b.workdir);
  CHECK(a.entrypoint == b.entrypoint);
  CHECK(a.cmd == b.cmd);
  CHECK(a.shell == b.shell);
  CHECK(a.labels == b.labels);
  CHECK(a.exposed_ports == b.exposed_ports);
  CHECK(a.volumes == b.volumes);
  CHECK(a.stop_signal == b.stop_signal);
  REQUIRE(a.healthcheck.has_value() == b.healthcheck.has_value());
  if (a.healthcheck) {
    CHECK(a.healthcheck->test == b.healthcheck->test);
    CHECK(a.healthcheck->interval_ns == b.healthcheck->interval_ns);
    CHECK(a.healthcheck->timeout_ns == b.healthcheck->timeout_ns);
    CHECK(a.healthcheck->start_period_ns == b.healthcheck->start_period_ns);
    CHECK(a.healthcheck->start_interval_ns == b.healthcheck->start_interval_ns);
    CHECK(a.healthcheck->retries == b.healthcheck->retries);
  }
  CHECK(a.onbuild == b.onbuild);
}

}  // namespace

TEST_CASE("every field a Dockerfile changes is read from a base config", "[build][config]") {
  auto s = settings_from_config(kDockerConfig);
  REQUIRE(s.ok());
  check_equal(*s, full_settings());
}

TEST_CASE("absent and null fields stay empty; null Cmd and Entrypoint stay unset",
          "[build][config]") {
  auto s = settings_from_config(R"({"config":{"Cmd":null,"Entrypoint":null,"Env":null}})");
  REQUIRE(s.ok());
  CHECK_FALSE(s->cmd.has_value());
  CHECK_FALSE(s->entrypoint.has_value());
  CHECK(s->env.empty());
  CHECK_FALSE(s->healthcheck.has_value());
  auto none = settings_from_config(R"({"architecture":"amd64"})");
  REQUIRE(none.ok());
  CHECK(none->user.empty());
  // An explicitly empty Cmd is set (to nothing), which is not the same as unset.
  auto empty_cmd = settings_from_config(R"({"config":{"Cmd":[]}})");
  REQUIRE(empty_cmd.ok());
  REQUIRE(empty_cmd->cmd.has_value());
  CHECK(empty_cmd->cmd->empty());
}

TEST_CASE("wrongly typed or garbage configs are errors naming the field", "[build][config]") {
  CHECK_FALSE(settings_from_config("").ok());
  CHECK_FALSE(settings_from_config("[1,2]").ok());
  CHECK_FALSE(settings_from_config(R"({"config":"x"})").ok());
  auto labels = settings_from_config(R"({"config":{"Labels":{"a":1}}})");
  REQUIRE_FALSE(labels.ok());
  CHECK(labels.error().message.find("config.Labels") != std::string::npos);
  auto cmd = settings_from_config(R"({"config":{"Cmd":"sh"}})");
  REQUIRE_FALSE(cmd.ok());
  CHECK(cmd.error().message.find("config.Cmd") != std::string::npos);
  CHECK_FALSE(settings_from_config(R"({"config":{"Healthcheck":{"Interval":"30s"}}})").ok());
  CHECK_FALSE(settings_from_config(R"({"config":{"ExposedPorts":["80/tcp"]}})").ok());
}

TEST_CASE("base history is read with its times in whole seconds", "[build][config]") {
  auto h = history_from_config(kDockerConfig);
  REQUIRE(h.ok());
  REQUIRE(h->size() == 2);
  CHECK((*h)[0].created_unix == 1704164645);
  CHECK((*h)[0].created_by == "/bin/sh -c #(nop) ADD file:x in /");
  CHECK_FALSE((*h)[0].empty_layer);
  CHECK((*h)[1].created_unix == 1704164645);  // +02:00 offset
  CHECK((*h)[1].empty_layer);
  CHECK((*h)[1].comment == "buildkit.dockerfile.v0");
  auto none = history_from_config(R"({"config":{}})");
  REQUIRE(none.ok());
  CHECK(none->empty());
  CHECK_FALSE(history_from_config(R"({"history":{}})").ok());
  CHECK_FALSE(history_from_config(R"({"history":[{"empty_layer":"yes"}]})").ok());
}

TEST_CASE("RFC 3339 times format in UTC and parse with offsets and fractions", "[build][config]") {
  CHECK(format_rfc3339_utc(0) == "1970-01-01T00:00:00Z");
  CHECK(format_rfc3339_utc(1704164645) == "2024-01-02T03:04:05Z");
  CHECK(parse_rfc3339("2024-01-02T03:04:05Z") == 1704164645);
  CHECK(parse_rfc3339("2024-01-02T03:04:05.999999999Z") == 1704164645);
  CHECK(parse_rfc3339("2024-01-01T22:04:05-05:00") == 1704164645);
  CHECK_FALSE(parse_rfc3339("").has_value());
  CHECK_FALSE(parse_rfc3339("2024-01-02").has_value());
  CHECK_FALSE(parse_rfc3339("2024-01-02T03:04:05").has_value());
  CHECK_FALSE(parse_rfc3339("2024-13-02T03:04:05Z").has_value());
  CHECK_FALSE(parse_rfc3339("2024-01-02T03:04:05.Z").has_value());
  CHECK_FALSE(parse_rfc3339("2024-01-02T03:04:05Zjunk").has_value());
}

TEST_CASE("a scratch image's config is canonical, byte for byte", "[build][config]") {
  ImageSettings s;
  s.cmd = std::vector<std::string>{"/hello"};
  s.env = {"A=1"};
  std::vector<HistoryEntry> history = {
      {"COPY hello / # buildkit", std::string(kHistoryComment), false, 1704164645},
      {"CMD [\"/hello\"]", std::string(kHistoryComment), true, 1704164645}};
  std::string json =
      write_config_json("", s, {"sha256:" + std::string(64, 'a')}, history, 1704164645);
  const std::string arch = matchlock::image::host_architecture();
  CHECK(json == R"({"created":"2024-01-02T03:04:05Z","architecture":")" + arch +
                    R"(","os":"linux","config":{"Env":["A=1"],"Cmd":["/hello"]},)"
                    R"("rootfs":{"type":"layers","diff_ids":["sha256:)" +
                    std::string(64, 'a') +
                    R"("]},"history":[{"created":"2024-01-02T03:04:05Z",)"
                    R"("created_by":"COPY hello / # buildkit","comment":"matchlock.build.v1"},)"
                    R"({"created":"2024-01-02T03:04:05Z","created_by":"CMD [\"/hello\"]",)"
                    R"("comment":"matchlock.build.v1","empty_layer":true}]})");
  // Same inputs, same bytes.
  CHECK(write_config_json("", s, {"sha256:" + std::string(64, 'a')}, history, 1704164645) == json);
}

TEST_CASE("a derived config keeps the base platform, drops docker's leftovers, round-trips",
          "[build][config]") {
  auto base_settings = settings_from_config(kDockerConfig);
  REQUIRE(base_settings.ok());
  auto history = history_from_config(kDockerConfig);
  REQUIRE(history.ok());
  history->push_back({"RUN /bin/sh -c make", std::string(kHistoryComment), false, 1704200000});
  const std::vector<std::string> diff_ids = {"sha256:" + std::string(64, 'a'),
                                             "sha256:" + std::string(64, 'b')};
  std::string json =
      write_config_json(kDockerConfig, *base_settings, diff_ids, *history, 1704200000);

  CHECK(json.find(R"("architecture":"arm64","variant":"v8","os":"linux","os.version":"6.1")") !=
        std::string::npos);
  CHECK(json.find(R"("author":"someone")") != std::string::npos);
  CHECK(json.find("container_config") == std::string::npos);
  CHECK(json.find("docker_version") == std::string::npos);
  CHECK(json.find("Hostname") == std::string::npos);
  CHECK(json.find(R"("created":"2024-01-02T12:53:20Z")") == 1);

  auto again = settings_from_config(json);
  REQUIRE(again.ok());
  check_equal(*again, *base_settings);
  auto h2 = history_from_config(json);
  REQUIRE(h2.ok());
  REQUIRE(h2->size() == 3);
  CHECK((*h2)[2].created_by == "RUN /bin/sh -c make");
  CHECK((*h2)[1].empty_layer);
  // What the image store reads from it.
  auto ids = matchlock::image::parse_diff_ids(json);
  REQUIRE(ids.ok());
  CHECK(*ids == diff_ids);
  auto cfg = matchlock::image::parse_image_config(json);
  REQUIRE(cfg.ok());
  CHECK(cfg->user == "app:app");
  CHECK(cfg->entrypoint == std::vector<std::string>{"/entry.sh"});
}

TEST_CASE("empty and unset settings are left out of config", "[build][config]") {
  ImageSettings s;
  s.cmd = std::vector<std::string>{};
  s.entrypoint = std::vector<std::string>{};
  std::string json = write_config_json(R"({"architecture":"amd64","os":"linux"})", s, {}, {}, 0);
  CHECK(json == R"({"created":"1970-01-01T00:00:00Z","architecture":"amd64","os":"linux",)"
                R"("config":{},"rootfs":{"type":"layers","diff_ids":[]},"history":[]})");
}
