// `matchlock build`: runs a Dockerfile's stages in order. Metadata instructions change the
// image settings on the host; COPY/ADD layers are written on the host from the context (or
// another stage's files); RUN steps run in one build VM per stage, booted from the stage's
// root image, each in a fresh overlay upper whose diff becomes the step's layer. Every layer
// step is cached by (parent, instruction, inputs): an unchanged Dockerfile rebuilds without a VM.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "dockerbuild/build_plan.h"
#include "dockerbuild/build_progress.h"

namespace matchlock::dockerbuild {

struct BuildOptions {
  std::filesystem::path context;
  std::filesystem::path dockerfile;  // default: <context>/Dockerfile
  std::vector<std::string> tags;     // -t, normalised by the image store
  BuildArgs build_args;
  std::string target;  // --target; "" = the last stage
  bool no_cache = false;
  // The network policy of every RUN: NAT by default, none, or interception with an allow-list.
  bool no_network = false;
  std::vector<std::string> allowed_hosts;
  std::optional<std::filesystem::path> oci_output;  // --output type=oci,dest=FILE
  ProgressMode progress = ProgressMode::kPlain;
  double cpus = 2;
  uint64_t memory_mib = 2048;
  uint64_t disk_size_mib = 10240;
};

struct BuildOutcome {
  std::string manifest_digest;  // set on success
  std::optional<Error> error;   // one line; "Dockerfile:7: ..." for an instruction's failure
  int exit_code = 0;            // a failing RUN's exit code; 1 for other failures
};

BuildOutcome run_build(const BuildOptions& options);

}  // namespace matchlock::dockerbuild
