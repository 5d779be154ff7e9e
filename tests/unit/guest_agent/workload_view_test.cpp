#include "workload_view.h"

#include <catch2/catch.hpp>

using matchlock::guest_agent::mount_points_below;

TEST_CASE("the mounts below /sys are found in mountinfo, escapes undone",
          "[guest][workload_view]") {
  const std::string mountinfo =
      "22 1 0:21 / /proc rw,nosuid,nodev,noexec shared:5 - proc proc rw\n"
      "23 1 0:22 / /sys rw,nosuid,nodev,noexec - sysfs sysfs rw\n"
      "24 23 0:23 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
      "25 1 0:24 / /sysroot rw - tmpfs tmpfs rw\n"
      "26 23 0:25 / /sys/kernel/debug\\040dir rw - debugfs debugfs rw\n"
      "27 1 0:26 / /workspace/sys rw - fuse fuse rw\n"
      "garbage\n"
      "1 2 3 4\n"
      "\n"
      "28 23 0:27 / /sys/a\\134b\\04 rw - x x rw";  // a bad escape is kept as is, no '\n' at the
                                                    // end
  auto points = mount_points_below(mountinfo, "/sys");
  REQUIRE(points.size() == 4);
  CHECK(points[0] == "/sys");
  CHECK(points[1] == "/sys/fs/cgroup");
  CHECK(points[2] == "/sys/kernel/debug dir");
  CHECK(points[3] == "/sys/a\\b\\04");
  CHECK(mount_points_below("", "/sys").empty());
}
