#include "core/build_info.h"

// Set by CMake at configure time for this file only: a define that changes with every commit
// would otherwise recompile every file that reports it.
#ifndef MATCHLOCK_GIT_COMMIT
#define MATCHLOCK_GIT_COMMIT "unknown"
#endif

namespace matchlock {

const char* build_git_commit() {
  return MATCHLOCK_GIT_COMMIT;
}

}  // namespace matchlock
