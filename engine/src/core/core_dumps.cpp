#include "core/core_dumps.h"

#include <sys/resource.h>

namespace matchlock {

void disable_core_dumps() {
  rlimit none{0, 0};
  ::setrlimit(RLIMIT_CORE, &none);
}

}  // namespace matchlock
