// `matchlock volume create|ls|rm|cp`: named ext4 volumes for `run --disk @NAME:/path`.
// With --json, stdout carries exactly the JSON the SDKs parse and stderr stays empty on success.
#include <cstdio>
#include <string>

#include "cli/arg_parser.h"
#include "cli/commands.h"
#include "cli/sandbox_lookup.h"
#include "cli/text_table.h"
#include "cli/volume_json.h"
#include "core/value_parsers.h"
#include "volume/disk_users.h"
#include "volume/volume_store.h"

namespace matchlock::cli {
namespace {

constexpr const char* kVolumeUsage =
    "Usage: matchlock volume COMMAND\n\n"
    "Manage named volumes: ext4 images that outlive sandboxes, attached with\n"
    "`matchlock run --disk @NAME:/guest/path[:ro]`.\n\n"
    "Commands:\n"
    "  create NAME [--size MB] [--json]   Create a volume (default 10240 MB)\n"
    "  ls [--json]                        List volumes\n"
    "  rm NAME                            Remove a volume no running sandbox uses\n"
    "  cp SRC DST                         Copy volume SRC to a new volume DST\n\n"
    "Run 'matchlock volume COMMAND --help' for more information.\n";

// Parses `args` with `parser`; prints help (returns 0) or the usage error (returns 2) itself.
std::optional<int> parse_or_exit(const ArgParser& parser, Args args, const char* what,
                                 ParsedArgs& out) {
  auto p = parser.parse(args, false);
  if (!p) return fail(std::string(what) + ": " + p.error().message);
  if (p->help) {
    std::printf("%s", parser.help_text().c_str());
    return 0;
  }
  out = std::move(*p);
  return std::nullopt;
}

// The live sandboxes using the volume's image, for a refusal naming them ("" if none).
Result<std::string> users_of(const volume::VolumeInfo& v, bool writers_only) {
  auto store = open_state();
  if (!store) return store.error();
  auto users = volume::active_disk_users(**store, v.path.string());
  if (!users) return users.error();
  std::vector<volume::DiskUser> relevant;
  for (const auto& u : *users) {
    if (!writers_only || !u.readonly) relevant.push_back(u);
  }
  return volume::describe_users(relevant);
}

int volume_create(Args args) {
  ArgParser parser("matchlock volume create NAME [--size MB] [--json]",
                   "Create a named volume: a sparse ext4 image.");
  parser.add_value("size", 0, "MB", "size in MiB (or 1G, 512M)", "10240")
      .add_bool("json", 0, "print {name, size, path} as JSON");
  ParsedArgs p;
  if (auto code = parse_or_exit(parser, args, "volume create", p)) return *code;
  if (p.positionals.size() != 1) return fail("volume create: expected exactly one NAME");
  const std::string& name = p.positionals[0];
  if (auto st = volume::validate_volume_name(name); !st) {
    return fail("volume create: " + st.error().message);
  }
  uint64_t size_mib = volume::kDefaultSizeMib;
  if (auto v = p.value("size")) {
    auto size = parse_size_mib(*v, "--size", volume::kMinSizeMib, volume::kMaxSizeMib);
    if (!size) return fail("volume create: " + size.error().message);
    size_mib = *size;
  }
  auto created = volume::create_volume(name, size_mib);
  if (!created) return fail("volume create: " + created.error().message, 1);
  if (p.flag("json")) {
    std::printf("%s\n", volume_json(*created).c_str());
  } else {
    std::printf("Created volume %s (%llu MB)\n", name.c_str(),
                static_cast<unsigned long long>(size_mib));
  }
  return 0;
}

int volume_ls(Args args) {
  ArgParser parser("matchlock volume ls [--json]", "List named volumes.");
  parser.add_bool("json", 0, "print a JSON array of {name, size, path}");
  ParsedArgs p;
  if (auto code = parse_or_exit(parser, args, "volume ls", p)) return *code;
  if (!p.positionals.empty()) {
    return fail("volume ls: unexpected argument \"" + p.positionals[0] + "\"");
  }
  auto volumes = volume::list_volumes();
  if (!volumes) return fail("volume ls: " + volumes.error().message, 1);
  if (p.flag("json")) {
    std::printf("%s\n", volumes_json(*volumes).c_str());
    return 0;
  }
  std::vector<TableRow> rows = {{"NAME", "SIZE", "PATH"}};
  for (const auto& v : *volumes) rows.push_back({v.name, volume::size_text(v.size_bytes), v.path});
  std::printf("%s", format_table(rows).c_str());
  return 0;
}

int volume_rm(Args args) {
  ArgParser parser("matchlock volume rm NAME", "Remove a named volume and its data.");
  ParsedArgs p;
  if (auto code = parse_or_exit(parser, args, "volume rm", p)) return *code;
  if (p.positionals.size() != 1) return fail("volume rm: expected exactly one NAME");
  const std::string& name = p.positionals[0];
  auto found = volume::find_volume(name);
  if (!found) {
    return fail("volume rm: " + found.error().message,
                found.error().code == ErrorCode::kInvalidArgument ? 2 : 1);
  }
  auto users = users_of(*found, false);
  if (!users) return fail("volume rm: " + users.error().message, 1);
  if (!users->empty()) {
    return fail("volume rm: volume " + name + " is attached to running sandbox " + *users +
                    " (stop it first)",
                1);
  }
  if (auto st = volume::remove_volume(name); !st)
    return fail("volume rm: " + st.error().message, 1);
  std::printf("Removed volume %s\n", name.c_str());
  return 0;
}

int volume_cp(Args args) {
  ArgParser parser("matchlock volume cp SRC DST [--json]",
                   "Copy named volume SRC to a new volume DST (holes, mode, owner, mtime kept).");
  parser.add_bool("json", 0, "print the new volume's {name, size, path} as JSON");
  ParsedArgs p;
  if (auto code = parse_or_exit(parser, args, "volume cp", p)) return *code;
  if (p.positionals.size() != 2) return fail("volume cp: expected SRC and DST");
  for (const auto& name : p.positionals) {
    if (auto st = volume::validate_volume_name(name); !st) {
      return fail("volume cp: " + st.error().message);
    }
  }
  auto src = volume::find_volume(p.positionals[0]);
  if (!src) return fail("volume cp: " + src.error().message, 1);
  // A copy of a disk being written would be a torn file system.
  auto writers = users_of(*src, true);
  if (!writers) return fail("volume cp: " + writers.error().message, 1);
  if (!writers->empty()) {
    return fail("volume cp: volume " + src->name + " is attached to running sandbox " + *writers +
                    " (stop it first)",
                1);
  }
  auto copied = volume::copy_volume(p.positionals[0], p.positionals[1]);
  if (!copied) return fail("volume cp: " + copied.error().message, 1);
  if (p.flag("json")) {
    std::printf("%s\n", volume_json(*copied).c_str());
  } else {
    std::printf("Copied volume %s to %s\n", src->name.c_str(), copied->name.c_str());
  }
  return 0;
}

}  // namespace

int cmd_volume(Args args) {
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    std::printf("%s", kVolumeUsage);
    return args.empty() ? 2 : 0;
  }
  const std::string& sub = args[0];
  Args rest = args.subspan(1);
  if (sub == "create") return volume_create(rest);
  if (sub == "ls" || sub == "list") return volume_ls(rest);
  if (sub == "rm" || sub == "remove") return volume_rm(rest);
  if (sub == "cp" || sub == "copy") return volume_cp(rest);
  return fail("volume: unknown command \"" + sub + "\" (see 'matchlock volume --help')");
}

}  // namespace matchlock::cli
