#include "user_cache.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "temp_dir.h"

using matchlock::guest_agent::UserCache;
using matchlock::testing::TempDir;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::trunc) << text;
}

}  // namespace

TEST_CASE("users are resolved once while passwd and group stay the same files", "[guest]") {
  TempDir dir;
  const fs::path passwd = dir.path / "passwd", group = dir.path / "group";
  write(passwd, "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n");
  write(group, "root:x:0:\nalice:x:1000:\n");
  UserCache users(passwd.string(), group.string());

  auto alice = users.resolve("alice");
  REQUIRE(alice.ok());
  CHECK(alice->uid == 1000);
  CHECK(alice->groups == std::vector<uint32_t>{1000});
  REQUIRE(users.resolve("alice").ok());
  REQUIRE(users.resolve("alice").ok());
  CHECK(users.reads() == 1);  // the files were read once
  REQUIRE(users.resolve("").ok());
  CHECK(users.reads() == 2);  // another user is read once too

  // Changed in place (a new group membership, so a new size): read again, and seen.
  write(group, "root:x:0:\nalice:x:1000:\nwheel:x:10:alice\n");
  alice = users.resolve("alice");
  REQUIRE(alice.ok());
  auto groups = alice->groups;
  std::sort(groups.begin(), groups.end());
  CHECK(groups == std::vector<uint32_t>{10, 1000});
  CHECK(users.reads() == 3);

  // Replaced by rename, the way adduser and vipw do it: a new inode.
  write(dir.path / "passwd.new",
        "root:x:0:0:root:/root:/bin/sh\nalice:x:2000:1000::/srv:/bin/sh\n");
  fs::rename(dir.path / "passwd.new", passwd);
  alice = users.resolve("alice");
  REQUIRE(alice.ok());
  CHECK(alice->uid == 2000);
  CHECK(alice->home == "/srv");

  // A failure is never kept: once the user exists, it resolves.
  CHECK_FALSE(users.resolve("bob").ok());
  write(passwd, "root:x:0:0:root:/root:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n");
  auto bob = users.resolve("bob");
  REQUIRE(bob.ok());
  CHECK(bob->uid == 1001);
  // Missing files: root by number still resolves, as without the cache.
  fs::remove(passwd);
  fs::remove(group);
  auto by_number = users.resolve("0");
  REQUIRE(by_number.ok());
  CHECK(by_number->uid == 0);
}
