#include "image/registry/docker_config.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/base64.h"
#include "core/json.h"
#include "core/unique_fd.h"
#include "image/registry/registry_reference.h"

extern char** environ;

namespace matchlock::image::registry {
namespace {

constexpr size_t kMaxConfigBytes = 1 << 20;
constexpr size_t kMaxHelperOutput = 64 * 1024;

std::filesystem::path config_path() {
  if (const char* d = std::getenv("DOCKER_CONFIG"); d && *d) {
    return std::filesystem::path(d) / "config.json";
  }
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home ? home : "/") / ".docker" / "config.json";
}

bool valid_helper_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return false;
  }
  return true;
}

// Runs `docker-credential-<helper> get` with `server` on stdin; nullopt if it has no entry.
Result<std::optional<Credentials>> run_helper(const std::string& helper,
                                              const std::string& server) {
  if (!valid_helper_name(helper)) {
    return invalid_argument("docker config: invalid credential helper name \"" + helper + "\"");
  }
  const std::string program = "docker-credential-" + helper;
  int in_pipe[2], out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0)
    return io_error(std::string("pipe: ") + std::strerror(errno));
  UniqueFd in_r(in_pipe[0]), in_w(in_pipe[1]);
  if (::pipe2(out_pipe, O_CLOEXEC) != 0)
    return io_error(std::string("pipe: ") + std::strerror(errno));
  UniqueFd out_r(out_pipe[0]), out_w(out_pipe[1]);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_r.get(), 0);
  posix_spawn_file_actions_adddup2(&fa, out_w.get(), 1);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> args = {program, "get"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, program.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return io_error("credential helper " + program + ": " + std::strerror(rc));
  in_r.reset();
  out_w.reset();
  // The request is a few bytes: it fits the pipe buffer, so writing before reading is safe.
  std::string request = server;
  (void)!::write(in_w.get(), request.data(), request.size());
  in_w.reset();
  std::string output;
  char buf[4096];
  bool too_big = false;
  while (true) {
    ssize_t n = ::read(out_r.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (output.size() + static_cast<size_t>(n) > kMaxHelperOutput) {
      too_big = true;
      break;
    }
    output.append(buf, static_cast<size_t>(n));
  }
  out_r.reset();
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (too_big) return io_error("credential helper " + program + ": output too large");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    // The protocol's "no entry" answer is a non-zero exit with this text on stdout.
    if (output.find("credentials not found") != std::string::npos)
      return std::optional<Credentials>();
    return io_error("credential helper " + program + " failed for " + server);
  }
  auto creds = parse_helper_output(output);
  if (!creds) return creds.error().with_context("credential helper " + program);
  return std::optional<Credentials>(std::move(*creds));
}

}  // namespace

std::string normalize_auth_key(std::string_view key) {
  if (size_t p = key.find("://"); p != std::string_view::npos) key.remove_prefix(p + 3);
  if (size_t slash = key.find('/'); slash != std::string_view::npos) key = key.substr(0, slash);
  std::string out(key);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Result<DockerConfig> parse_docker_config(std::string_view text) {
  json::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError() || !doc.IsObject()) return invalid_argument("not a JSON object");
  DockerConfig cfg;
  if (const auto* auths = json::member(doc, "auths"); auths && auths->IsObject()) {
    for (const auto& m : auths->GetObject()) {
      Credentials c;
      if (auto encoded = json::get_string(m.value, "auth"); !encoded.empty()) {
        auto decoded = base64::decode(encoded);
        size_t colon = decoded ? decoded->find(':') : std::string::npos;
        if (colon == std::string::npos) {
          return invalid_argument("auths[\"" + std::string(m.name.GetString()) +
                                  "\"].auth is not base64 of user:password");
        }
        c.username = decoded->substr(0, colon);
        c.secret = decoded->substr(colon + 1);
      } else {
        c.username = json::get_string(m.value, "username");
        c.secret = json::get_string(m.value, "password");
      }
      if (c.username.empty() && c.secret.empty()) continue;  // placeholder next to credsStore
      cfg.auths[normalize_auth_key(m.name.GetString())] = std::move(c);
    }
  }
  cfg.creds_store = json::get_string(doc, "credsStore");
  if (const auto* helpers = json::member(doc, "credHelpers"); helpers && helpers->IsObject()) {
    for (const auto& m : helpers->GetObject()) {
      if (m.value.IsString())
        cfg.cred_helpers[normalize_auth_key(m.name.GetString())] = m.value.GetString();
    }
  }
  return cfg;
}

Result<Credentials> parse_helper_output(std::string_view text) {
  json::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError() || !doc.IsObject())
    return invalid_argument("output is not a JSON object");
  Credentials c;
  c.username = json::get_string(doc, "Username");
  c.secret = json::get_string(doc, "Secret");
  if (c.secret.empty()) return invalid_argument("output has no Secret");
  return c;
}

Result<std::optional<Credentials>> find_credentials(const std::string& registry) {
  const std::filesystem::path path = config_path();
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::optional<Credentials>();  // no config: anonymous
  std::string text(kMaxConfigBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxConfigBytes) return invalid_argument(path.string() + ": larger than 1 MiB");
  auto cfg = parse_docker_config(text);
  if (!cfg) return cfg.error().with_context(path.string());

  const bool hub = registry == kDockerHubRegistry;
  std::vector<std::string> keys = {normalize_auth_key(registry)};
  if (hub) keys = {"index.docker.io", "docker.io", "registry-1.docker.io"};
  const std::string helper_server = hub ? std::string(kDockerHubAuthKey) : registry;

  for (const auto& k : keys) {
    if (auto it = cfg->cred_helpers.find(k); it != cfg->cred_helpers.end()) {
      return run_helper(it->second, helper_server);
    }
  }
  if (!cfg->creds_store.empty()) {
    auto c = run_helper(cfg->creds_store, helper_server);
    if (!c) return c.error();
    if (c->has_value()) return c;
  }
  for (const auto& k : keys) {
    if (auto it = cfg->auths.find(k); it != cfg->auths.end()) return std::optional(it->second);
  }
  return std::optional<Credentials>();
}

}  // namespace matchlock::image::registry
