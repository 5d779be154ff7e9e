#include "sandbox/exec_environment.h"

#include <map>

namespace matchlock::sandbox {

std::vector<std::string> compose_docker_command(
    const image::ImageConfig& image, const std::optional<std::vector<std::string>>& entrypoint,
    const std::optional<std::vector<std::string>>& cmd, const std::vector<std::string>& args) {
  std::vector<std::string> out = entrypoint.value_or(image.entrypoint);
  if (!args.empty()) {
    out.insert(out.end(), args.begin(), args.end());
  } else if (cmd) {
    out.insert(out.end(), cmd->begin(), cmd->end());
  } else if (!entrypoint) {
    out.insert(out.end(), image.cmd.begin(), image.cmd.end());
  }
  return out;
}

std::vector<std::string> compose_exec_env(const std::vector<std::string>& image_env,
                                          const std::vector<std::string>& sandbox_env,
                                          const std::vector<std::string>& exec_env,
                                          const std::string& hostname, bool tty,
                                          const std::vector<std::string>& placeholder_env) {
  std::vector<std::string> keys;
  std::map<std::string, std::string> values;
  auto add = [&](const std::string& kv, bool override_existing) {
    auto eq = kv.find('=');
    std::string key = eq == std::string::npos ? kv : kv.substr(0, eq);
    if (key.empty()) return;
    bool exists = values.count(key) > 0;
    if (exists && !override_existing) return;
    if (!exists) keys.push_back(key);
    values[key] = kv;
  };
  add("HOSTNAME=" + hostname, true);
  for (const auto& kv : image_env) add(kv, true);
  for (const auto& kv : sandbox_env) add(kv, true);
  for (const auto& kv : exec_env) add(kv, true);
  for (const auto& kv : placeholder_env) add(kv, true);
  add(kDefaultPath, false);
  if (tty) add("TERM=xterm", false);
  std::vector<std::string> out;
  out.reserve(keys.size());
  for (const auto& k : keys) out.push_back(values[k]);
  return out;
}

}  // namespace matchlock::sandbox
