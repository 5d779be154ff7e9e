#include "vm/qemu_install.h"

#include <catch2/catch.hpp>

using matchlock::vm::parse_qemu_version;

TEST_CASE("QEMU version banners parse", "[vm]") {
  auto v = parse_qemu_version("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)");
  REQUIRE(v.has_value());
  CHECK((v->major == 7 && v->minor == 2 && v->micro == 22));
  CHECK(v->at_least(7, 2));
  CHECK_FALSE(v->at_least(8, 0));
  auto two = parse_qemu_version("QEMU emulator version 8.1");
  REQUIRE(two.has_value());
  CHECK(two->at_least(7, 2));
  auto old = parse_qemu_version("QEMU emulator version 6.2.0 (Debian 1:6.2+dfsg-2ubuntu6)");
  REQUIRE(old.has_value());
  CHECK_FALSE(old->at_least(7, 2));
  CHECK_FALSE(parse_qemu_version("").has_value());
  CHECK_FALSE(parse_qemu_version("QEMU emulator version x.y").has_value());
}
