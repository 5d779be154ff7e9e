// `matchlock version`: the version, the git commit it was built from, the QEMU that
// sandboxes would run and what that QEMU can do (boot always, warm-start from 9.1 on).
#include <cstdio>

#include "cli/arg_parser.h"
#include "cli/commands.h"
#include "cli/qemu_requirements.h"
#include "core/build_info.h"
#include "vm/qemu_install.h"

namespace matchlock::cli {

int cmd_version(Args args) {
  ArgParser parser("matchlock version",
                   "Print the version of matchlock, its git commit and the QEMU it uses.");
  auto p = parser.parse(args, false);
  if (!p) return fail("version: " + p.error().message);
  if (p->help) {
    std::printf("%s", parser.help_text().c_str());
    return 0;
  }
  if (!p->positionals.empty()) {
    return fail("version: unexpected argument \"" + p->positionals[0] + "\"");
  }
  std::printf("matchlock %s\n", MATCHLOCK_VERSION);
  std::printf("commit:   %s\n", build_git_commit());
  const auto qemu = vm::find_qemu();
  if (!qemu) {
    std::printf("qemu:     not found\n");
  } else {
    std::printf("qemu:     %s (%s)\n", qemu->path.c_str(),
                qemu->version_line.empty() ? "version unknown" : qemu->version_line.c_str());
  }
  std::printf("needs:    QEMU >= %s to boot sandboxes; %s\n",
              requirement_name(kColdBootQemu).c_str(),
              warm_start_support(qemu, read_os_release()).message.c_str());
  return 0;
}

}  // namespace matchlock::cli
