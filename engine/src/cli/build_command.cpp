// `matchlock build [flags] CONTEXT`: flag parsing and the final report; the build itself is
// build/build_executor.cpp.
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "cli/arg_parser.h"
#include "cli/commands.h"
#include "core/printable.h"
#include "core/value_parsers.h"
#include "dockerbuild/build_executor.h"
#include "dockerbuild/build_plan.h"
#include "image/image_store.h"

namespace matchlock::cli {
namespace {

constexpr uint64_t kMinMemoryMib = 128, kMaxMemoryMib = 64 * 1024;
constexpr uint64_t kMinDiskMib = 256, kMaxDiskMib = 1024 * 1024;

// "--output type=oci,dest=FILE" (the only exporter besides the store).
Result<std::filesystem::path> parse_output(const std::string& text) {
  std::string type, dest;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string field =
        text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t eq = field.find('=');
    if (eq == std::string::npos) {
      return Error(ErrorCode::kInvalidArgument,
                   "--output: expected KEY=VALUE, got '" + field + "'");
    }
    std::string key = field.substr(0, eq), value = field.substr(eq + 1);
    if (key == "type") {
      type = value;
    } else if (key == "dest") {
      dest = value;
    } else {
      return Error(ErrorCode::kInvalidArgument, "--output: unknown key '" + key + "'");
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  if (type != "oci") {
    return Error(ErrorCode::kInvalidArgument,
                 "--output: type must be oci (got '" + type + "'); images go to the store with -t");
  }
  if (dest.empty()) return Error(ErrorCode::kInvalidArgument, "--output: dest=FILE is required");
  return std::filesystem::path(dest);
}

}  // namespace

int cmd_build(Args args) {
  ArgParser parser("matchlock build [flags] CONTEXT",
                   "Build an image from a Dockerfile; every RUN runs in a matchlock sandbox.");
  parser.add_value("file", 'f', "FILE", "the Dockerfile", "CONTEXT/Dockerfile")
      .add_repeated("tag", 't', "NAME[:TAG]", "name the image in the local store (repeatable)")
      .add_repeated("build-arg", 0, "NAME[=VALUE]", "set a build argument (NAME alone: from env)")
      .add_value("target", 0, "STAGE", "build this stage (default: the last)")
      .add_bool("no-cache", 0, "run every step even if a cached result exists")
      .add_bool("no-network", 0, "RUN steps have no network")
      .add_repeated("allow-host", 0, "HOST", "RUN steps reach only these hosts (repeatable)")
      .add_value("output", 'o', "type=oci,dest=FILE", "also write the image as an OCI archive")
      .add_value("progress", 0, "auto|plain|tty", "how steps are shown on stderr", "auto")
      .add_bool("quiet", 'q', "print only the image digest")
      .add_value("cpus", 0, "N", "virtual CPUs of the build VM", "host CPUs")
      .add_value("memory", 0, "SIZE", "memory of the build VM in MiB (or 2G)", "2048")
      .add_value("disk-size", 0, "SIZE", "disk of the build VM for all layers, MiB", "10240");
  auto p = parser.parse(args, false);
  if (!p) return fail("build: " + p.error().message);
  if (p->help) {
    std::printf("%s", parser.help_text().c_str());
    return 0;
  }
  if (p->positionals.size() != 1) return fail("build: expected one CONTEXT directory");

  dockerbuild::BuildOptions o;
  o.context = p->positionals[0];
  if (auto f = p->value("file")) o.dockerfile = *f;
  for (const auto& tag : p->values("tag")) {
    auto normalised = image::normalize_reference(tag);
    if (!normalised) return fail("build: -t " + tag + ": " + normalised.error().message);
    o.tags.push_back(*normalised);
  }
  for (const auto& arg : p->values("build-arg")) {
    auto parsed = dockerbuild::parse_build_arg(arg, host_env_lookup);
    if (!parsed) return fail("build: " + parsed.error().message);
    o.build_args.values[parsed->first] = parsed->second;
  }
  if (auto t = p->value("target")) o.target = *t;
  o.no_cache = p->flag("no-cache");
  o.no_network = p->flag("no-network");
  o.allowed_hosts = p->values("allow-host");
  if (o.no_network && !o.allowed_hosts.empty()) {
    return fail("build: --no-network and --allow-host contradict each other");
  }
  if (auto out = p->value("output")) {
    auto dest = parse_output(*out);
    if (!dest) return fail("build: " + dest.error().message);
    o.oci_output = *dest;
  }
  if (o.tags.empty() && !o.oci_output) {
    return fail("build: name the image with -t NAME[:TAG] or write it with --output");
  }
  std::string progress = p->value("progress").value_or("auto");
  if (progress == "auto") {
    o.progress = ::isatty(2) ? dockerbuild::ProgressMode::kTty : dockerbuild::ProgressMode::kPlain;
  } else if (progress == "plain") {
    o.progress = dockerbuild::ProgressMode::kPlain;
  } else if (progress == "tty") {
    o.progress = dockerbuild::ProgressMode::kTty;
  } else {
    return fail("build: --progress must be auto, plain or tty (got '" + progress + "')");
  }
  if (p->flag("quiet")) o.progress = dockerbuild::ProgressMode::kQuiet;
  int host_cpus = static_cast<int>(std::thread::hardware_concurrency());
  if (host_cpus <= 0) host_cpus = 1;
  o.cpus = host_cpus;
  if (auto v = p->value("cpus")) {
    auto c = parse_cpus(*v, "--cpus", host_cpus);
    if (!c) return fail("build: " + c.error().message);
    o.cpus = *c;
  }
  if (auto v = p->value("memory")) {
    auto m = parse_size_mib(*v, "--memory", kMinMemoryMib, kMaxMemoryMib);
    if (!m) return fail("build: " + m.error().message);
    o.memory_mib = *m;
  }
  if (auto v = p->value("disk-size")) {
    auto d = parse_size_mib(*v, "--disk-size", kMinDiskMib, kMaxDiskMib);
    if (!d) return fail("build: " + d.error().message);
    o.disk_size_mib = *d;
  }

  auto outcome = dockerbuild::run_build(o);
  if (outcome.error) {
    std::fprintf(stderr, "matchlock: build: %s\n", printable(outcome.error->message).c_str());
    return outcome.exit_code == 0 ? 1 : outcome.exit_code;
  }
  if (p->flag("quiet")) {
    std::printf("%s\n", outcome.manifest_digest.c_str());
  } else {
    for (const auto& tag : o.tags) {
      std::fprintf(stderr, "Successfully built and tagged %s\n", tag.c_str());
    }
    std::printf("%s\n", outcome.manifest_digest.c_str());
  }
  return 0;
}

}  // namespace matchlock::cli
