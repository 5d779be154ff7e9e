#include "core/build_info.h"

// Written at every build, and included by this file only: a define that changes with every
// commit would otherwise recompile every file that reports it.
#include "git_commit.h"

namespace matchlock {

const char* build_git_commit() {
  return MATCHLOCK_GIT_COMMIT;
}

}  // namespace matchlock
