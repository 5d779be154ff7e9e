#include "core/pid_named.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

using namespace matchlock;

TEST_CASE("pid-named temporaries carry their maker and are unique", "[core]") {
  const std::string a = pid_named::unique_name(".making-", ".img");
  const std::string b = pid_named::unique_name(".making-", ".img");
  CHECK(a != b);
  CHECK(pid_named::maker_of(a, ".making-") == ::getpid());
  CHECK(pid_named::maker_is_running(pid_named::maker_of(a, ".making-")));
  CHECK(pid_named::maker_of("build-123-abc", "build-") == 123);
  // Not ours: another prefix, no pid, no dash after it, a zero or negative or huge pid.
  CHECK(pid_named::maker_of("build-123-abc", ".making-") == 0);
  CHECK(pid_named::maker_of("build--abc", "build-") == 0);
  CHECK(pid_named::maker_of("build-123", "build-") == 0);
  CHECK(pid_named::maker_of("build-123x-", "build-") == 0);
  CHECK(pid_named::maker_of("build-0-a", "build-") == 0);
  CHECK(pid_named::maker_of("build--5-a", "build-") == 0);
  CHECK(pid_named::maker_of("build-99999999999999999999-a", "build-") == 0);
}
