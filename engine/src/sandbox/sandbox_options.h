// What a sandbox is created with. Filled by the CLI (`run` flags) and by rpc (`create` params);
// both validate their input into this one structure, so there is one code path below them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace matchlock::sandbox {

struct SandboxOptions {
  std::string image;
  double cpus = 1.0;
  uint64_t memory_mib = 512;
  uint64_t disk_size_mib = 5120;
  std::string hostname;                     // empty: the sandbox id
  std::vector<std::string> env;             // "K=V", override the image's ENV
  std::optional<std::string> user;          // overrides the image USER
  std::optional<std::string> workdir;       // overrides the image WORKDIR
  std::optional<std::vector<std::string>> entrypoint;  // overrides ENTRYPOINT ([] clears it)
  std::optional<std::vector<std::string>> cmd;         // overrides CMD
  bool privileged = false;
  bool no_network = false;
  std::vector<std::string> dns_servers = {"8.8.8.8", "8.8.4.4"};
  bool keep_after_close = false;
  bool pull_always = false;                 // pull even if the image is in the store            // --rm=false: keep the state row and directory
};

}  // namespace matchlock::sandbox
