// Facts about this build that several commands report (`matchlock version`, rpc `version`).
#pragma once

namespace matchlock {

// The short git commit the build was configured from, or "unknown".
const char* build_git_commit();

}  // namespace matchlock
