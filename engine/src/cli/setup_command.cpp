// `matchlock setup linux`: checks this host step by step and fixes what it can, idempotently.
// System changes (installing QEMU, from bookworm-backports on Debian 12; group membership) need
// root; per-user ones (creating $MATCHLOCK_HOME, importing the default image) are made for whoever
// runs it. --dry-run changes nothing. Exit 1 while any step remains broken.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "cli/arg_parser.h"
#include "cli/commands.h"
#include "cli/host_checks.h"
#include "cli/qemu_requirements.h"
#include "core/paths.h"
#include "core/subprocess.h"
#include "image/image_store.h"
#include "vm/bundle.h"
#include "vm/qemu_install.h"

namespace matchlock::cli {
namespace {

constexpr const char* kDefaultImage = "matchlock/busybox:latest";
constexpr const char* kImageArchiveName = "matchlock-busybox.tar";

struct SetupContext {
  bool root = false;
  bool dry_run = false;
  // Under sudo, $MATCHLOCK_HOME may be the invoking user's or root's: writing there as root
  // would either miss the user or leave root-owned files in their home. So per-user steps are
  // only checked, and fixed by a run without sudo.
  bool user_fixes = true;
  HostUser user;
};

enum class Outcome {
  kOk,
  kFixed,
  kNote,    // works, with a caveat worth knowing (e.g. no KVM: TCG fallback)
  kBroken,  // matchlock cannot work until someone acts on the message
};

struct StepResult {
  Outcome outcome;
  std::string message;
};

struct Step {
  const char* name;
  std::function<StepResult(const SetupContext&)> run;
};

std::string describe(const vm::QemuInstall& q) {
  return q.path + " (" + (q.version_line.empty() ? "version unknown" : q.version_line) + ")";
}

bool meets(const std::optional<vm::QemuInstall>& q, const vm::QemuVersion& want) {
  return q && q->version && q->version->at_least(want.major, want.minor);
}

// Whether some apt source already names `suite`. apt reads sources.list and, in sources.list.d,
// only *.list and *.sources files.
bool apt_has_suite(const std::string& suite) {
  std::vector<std::filesystem::path> files{"/etc/apt/sources.list"};
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/etc/apt/sources.list.d", ec)) {
    const auto ext = e.path().extension();
    if (ext == ".list" || ext == ".sources") files.push_back(e.path());
  }
  for (const auto& path : files) {
    std::ifstream f(path);
    std::ostringstream text;
    text << f.rdbuf();
    if (apt_source_names_suite(text.str(), suite)) return true;
  }
  return false;
}

// Installs QEMU with apt-get, from backports where the distribution's own QEMU cannot warm-start
// (enabling that suite first if no source names it).
Status install_qemu(const QemuAptSource& source) {
  ::setenv("DEBIAN_FRONTEND", "noninteractive", 1);
  bool refreshed = false;
  if (!source.backports_suite.empty() && !apt_has_suite(source.backports_suite)) {
    const auto list = std::filesystem::path("/etc/apt/sources.list.d") / "matchlock-backports.list";
    std::ofstream f(list, std::ios::trunc);
    f << source.backports_line << '\n';
    if (!f.flush()) return io_error("cannot write " + list.string());
    if (auto st = run_tool("apt-get", {"update"}); !st) return st;
    refreshed = true;
  }
  auto st = run_tool("apt-get", source.install_args());
  if (!st && !refreshed) {  // a stale package index is the usual reason: refresh it once
    if (run_tool("apt-get", {"update"})) st = run_tool("apt-get", source.install_args());
  }
  return st;
}

StepResult check_qemu(const SetupContext& ctx) {
  const std::string need = requirement_name(kColdBootQemu);
  auto qemu = vm::find_qemu();
  if (meets(qemu, kColdBootQemu)) return {Outcome::kOk, describe(*qemu)};
  const std::string found = qemu ? "found " + describe(*qemu) : "qemu-system-x86_64 not found";
  const QemuAptSource source = qemu_apt_source(read_os_release());
  if (!ctx.root || ctx.dry_run) {
    return {Outcome::kBroken, found + "; install QEMU >= " + need +
                                  " (>= " + requirement_name(kWarmStartQemu) +
                                  " for warm starts): " + source.install_hint() +
                                  " (or run 'sudo matchlock setup linux')"};
  }
  if (auto st = install_qemu(source); !st) {
    return {Outcome::kBroken,
            found + "; apt-get install qemu-system-x86 failed: " + st.error().message};
  }
  qemu = vm::find_qemu();
  if (meets(qemu, kColdBootQemu)) return {Outcome::kFixed, "installed " + describe(*qemu)};
  return {Outcome::kBroken, "installed qemu-system-x86 but " +
                                (qemu ? describe(*qemu) : std::string("it is not on $PATH")) +
                                " is older than " + need + "; install a newer QEMU"};
}

// Only a note when missing: cold boots work without it, and upgrading the system's QEMU is the
// administrator's call.
StepResult check_warm_start(const SetupContext&) {
  const WarmStartSupport warm = warm_start_support(vm::find_qemu(), read_os_release());
  return {warm.supported ? Outcome::kOk : Outcome::kNote, warm.message};
}

StepResult check_kvm(const SetupContext& ctx) {
  constexpr const char* kTcg =
      "sandboxes fall back to TCG emulation: they work, but boot and run several times slower";
  const KvmAccess kvm = kvm_access_for(ctx.user);
  if (!kvm.exists) {
    return {Outcome::kNote, std::string("/dev/kvm does not exist (no hardware virtualization "
                                        "exposed to this host); ") +
                                kTcg};
  }
  if (kvm.usable) {
    // Group membership granted after login only counts in new sessions.
    if (ctx.user.uid == ::geteuid() && ::access("/dev/kvm", R_OK | W_OK) != 0) {
      return {Outcome::kNote, ctx.user.name + " is in group " + kvm.group +
                                  " but this login session predates it: log in again"};
    }
    return {Outcome::kOk, "/dev/kvm is usable by " + ctx.user.name};
  }
  if (!kvm.group_has_rw || kvm.group.empty() || kvm.group == "root") {
    return {Outcome::kNote, "/dev/kvm is not usable by " + ctx.user.name +
                                " and no group grants access (a udev rule giving group kvm "
                                "rw, mode 0660, would); " +
                                kTcg};
  }
  const std::string how = "sudo usermod -aG " + kvm.group + " " + ctx.user.name;
  if (!ctx.root || ctx.dry_run) {
    return {Outcome::kNote, ctx.user.name + " is not in group " + kvm.group + " (run: " + how +
                                ", then log in again); until then " + kTcg};
  }
  if (auto st = run_tool("usermod", {"-aG", kvm.group, ctx.user.name}); !st) {
    return {Outcome::kNote, "could not add " + ctx.user.name + " to group " + kvm.group + ": " +
                                st.error().message + "; " + kTcg};
  }
  return {Outcome::kFixed, "added " + ctx.user.name + " to group " + kvm.group +
                               " (takes effect at the next login)"};
}

StepResult check_bundle(const SetupContext&) {
  auto bundle = vm::locate_bundle();
  if (!bundle) return {Outcome::kBroken, bundle.error().message};
  return {Outcome::kOk, bundle->kernel.parent_path().string()};
}

// The archive scripts/build.sh writes next to the binary: <bin dir>/images/<name>.
std::filesystem::path default_image_archive() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path() : exe.parent_path() / "images" / kImageArchiveName;
}

StepResult check_image(const SetupContext& ctx) {
  auto store = image::ImageStore::open(images_dir());
  if (!store) return {Outcome::kBroken, "image store: " + store.error().message};
  auto found = (*store)->find(kDefaultImage);
  if (found) return {Outcome::kOk, std::string(kDefaultImage) + " is imported"};
  if (found.error().code != ErrorCode::kNotFound) {
    return {Outcome::kBroken, found.error().message};
  }
  const auto archive = default_image_archive();
  std::error_code ec;
  if (archive.empty() || !std::filesystem::exists(archive, ec)) {
    return {Outcome::kBroken, std::string(kDefaultImage) +
                                  " is not imported; build it with scripts/build.sh, then: "
                                  "matchlock image import " +
                                  kDefaultImage + " < build/release/images/" + kImageArchiveName};
  }
  const std::string how =
      "matchlock image import " + std::string(kDefaultImage) + " < " + archive.string();
  if (!ctx.user_fixes) {
    return {Outcome::kBroken, std::string(kDefaultImage) + " is not imported; run: " + how};
  }
  auto imported = (*store)->import_archive(kDefaultImage, archive);
  if (!imported)
    return {Outcome::kBroken, "import " + archive.string() + ": " + imported.error().message};
  return {Outcome::kFixed, "imported " + std::string(kDefaultImage) + " from " + archive.string()};
}

StepResult check_home(const SetupContext& ctx) {
  const auto home = matchlock_home();
  std::error_code ec;
  bool created = false;
  if (!std::filesystem::exists(home, ec)) {
    if (!ctx.user_fixes) {
      return {
          Outcome::kBroken,
          home.string() + " does not exist yet (rerun without sudo, or run any matchlock command)"};
    }
    if (auto st = ensure_private_dir(home); !st) return {Outcome::kBroken, st.error().message};
    created = true;
  }
  // Writable means a file can be made there, not just that the mode bits say so.
  const auto probe = home / ".setup-write-test";
  if (FILE* f = std::fopen(probe.c_str(), "w")) {
    std::fclose(f);
    std::filesystem::remove(probe, ec);
  } else {
    return {Outcome::kBroken, home.string() + " is not writable by " + ctx.user.name +
                                  " (fix its owner/mode, or set MATCHLOCK_HOME elsewhere)"};
  }
  return {created ? Outcome::kFixed : Outcome::kOk,
          (created ? "created " : "") + home.string() + " is writable"};
}

const char* label(Outcome o) {
  switch (o) {
    case Outcome::kOk:
      return "ok";
    case Outcome::kFixed:
      return "fixed";
    case Outcome::kNote:
      return "note";
    case Outcome::kBroken:
      return "TODO";
  }
  return "";
}

int setup_linux(const SetupContext& ctx) {
  // The home comes first: the image step writes into it.
  const Step steps[] = {
      {"QEMU >= 7.2", check_qemu},
      {"warm starts", check_warm_start},
      {"KVM", check_kvm},
      {"guest bundle", check_bundle},
      {"MATCHLOCK_HOME", check_home},
      {"default image", check_image},
  };
  int broken = 0;
  for (const Step& step : steps) {
    const StepResult r = step.run(ctx);
    std::printf("%-15s %-6s %s\n", step.name, label(r.outcome), r.message.c_str());
    std::fflush(stdout);
    if (r.outcome == Outcome::kBroken) ++broken;
  }
  if (broken > 0) {
    std::printf("\n%d step%s need%s attention (see TODO above).\n", broken, broken == 1 ? "" : "s",
                broken == 1 ? "s" : "");
    return 1;
  }
  std::printf("\nThis host is ready for matchlock.\n");
  return 0;
}

}  // namespace

int cmd_setup(Args args) {
  ArgParser parser(
      "matchlock setup linux [flags]",
      "Check this host for matchlock step by step: QEMU >= 7.2 (>= 9.1 for warm starts),\n"
      "/dev/kvm access, the guest bundle, $MATCHLOCK_HOME and the default image. Run as root it\n"
      "also fixes system steps (installs QEMU with apt-get, from bookworm-backports on Debian\n"
      "12; adds the invoking user to the KVM group); per-user steps (creating $MATCHLOCK_HOME,\n"
      "importing the default image) are fixed for whoever runs it.\n"
      "Safe to rerun. Exits 1 while a step still needs attention.");
  parser.add_bool("dry-run", '\0', "Only check; change nothing");
  auto p = parser.parse(args, false);
  if (!p) return fail("setup: " + p.error().message);
  if (p->help) {
    std::printf("%s", parser.help_text().c_str());
    return 0;
  }
  if (p->positionals.empty())
    return fail("setup: expected a platform (usage: matchlock setup linux)");
  if (p->positionals[0] != "linux") {
    return fail("setup: unknown platform \"" + p->positionals[0] + "\" (only linux is supported)");
  }
  if (p->positionals.size() > 1) {
    return fail("setup: unexpected argument \"" + p->positionals[1] + "\"");
  }
  SetupContext ctx;
  ctx.root = ::geteuid() == 0;
  ctx.dry_run = p->flag("dry-run");
  ctx.user = invoking_user();
  const char* sudo_user = std::getenv("SUDO_USER");
  ctx.user_fixes = !ctx.dry_run && !(ctx.root && sudo_user && *sudo_user);
  return setup_linux(ctx);
}

}  // namespace matchlock::cli
