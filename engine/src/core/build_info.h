// Facts about this build that several commands report (`matchlock version`, rpc `version`).
#pragma once

namespace matchlock {

// The short git commit the binary was built from ("-dirty" appended when tracked files had
// uncommitted changes), or "unknown" outside a git checkout.
const char* build_git_commit();

}  // namespace matchlock
