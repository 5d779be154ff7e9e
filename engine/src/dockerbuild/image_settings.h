// The parts of an OCI image config that Dockerfile instructions change, as the build keeps them
// between steps. Read from a base image's config and written into the built image's config by
// image_config_writer.cpp; changed instruction by instruction by build_steps.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace matchlock::dockerbuild {

struct Healthcheck {
  std::vector<std::string> test;  // ["NONE"], ["CMD", ...] or ["CMD-SHELL", "..."]
  int64_t interval_ns = 0, timeout_ns = 0, start_period_ns = 0, start_interval_ns = 0;
  int retries = 0;
};

struct ImageSettings {
  std::vector<std::string> env;  // "K=V" in order; ENV replaces a key in place
  std::string user;
  std::string workdir;
  std::optional<std::vector<std::string>> entrypoint;
  std::optional<std::vector<std::string>> cmd;
  std::vector<std::string> shell;  // SHELL; empty = ["/bin/sh", "-c"]
  std::map<std::string, std::string> labels;
  std::set<std::string> exposed_ports;  // "80/tcp"
  std::set<std::string> volumes;
  std::string stop_signal;
  std::optional<Healthcheck> healthcheck;
  std::vector<std::string> onbuild;  // recorded, never run (as BuildKit with ONBUILD in a base)
};

// One image history entry (OCI config "history").
struct HistoryEntry {
  std::string created_by;  // "RUN /bin/sh -c make" as docker writes it
  std::string comment;     // "buildkit.dockerfile.v0"-like marker: "matchlock.build.v1"
  bool empty_layer = false;
  int64_t created_unix = 0;
};

}  // namespace matchlock::dockerbuild
