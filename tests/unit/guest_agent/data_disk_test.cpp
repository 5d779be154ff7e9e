#include <catch2/catch.hpp>

#include "disks.h"

using namespace matchlock::guest_agent;

TEST_CASE("the agent takes only disk<N> serials and clean absolute mount points", "[guest][disk]") {
  CHECK(validate_data_disk({"disk0", "/data", false}).ok());
  CHECK(validate_data_disk({"disk15", "/srv/cache", true}).ok());
  for (const char* serial : {"", "disk", "base", "upper", "disk-1", "disk123", "diskx", "vda"}) {
    CHECK_FALSE(validate_data_disk({serial, "/data", false}).ok());
  }
  for (const char* path :
       {"", "/", "data", "/data/", "//data", "/a/../b", "/a/./b", "/a/..", "/a/."}) {
    CHECK_FALSE(validate_data_disk({"disk0", path, false}).ok());
  }
  CHECK_FALSE(validate_data_disk({"disk0", std::string("/a\0b", 4), false}).ok());
  CHECK_FALSE(validate_data_disk({"disk0", "/" + std::string(5000, 'a'), false}).ok());
}
