#include <catch2/catch.hpp>

#include "user_lookup.h"

using matchlock::guest_agent::parse_group;
using matchlock::guest_agent::parse_passwd;
using matchlock::guest_agent::resolve_user;
using Groups = std::vector<uint32_t>;

namespace {

const char* const kPasswd =
    "root:x:0:0:root:/root:/bin/bash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "# a comment line\n"
    "\n"
    "alice:x:1000:1000:Alice,,,:/home/alice:/bin/sh\n"
    "nohome:x:1001:1001:::/bin/sh\n";

const char* const kGroup =
    "root:x:0:\n"
    "daemon:x:1:\n"
    "wheel:x:10:alice,bob\n"
    "audio:x:29:alice\n"
    "alice:x:1000:\n"
    "staff:x:50:\n";

}  // namespace

TEST_CASE("empty user spec resolves to root with root's home") {
  auto user = resolve_user("", kPasswd, kGroup);
  REQUIRE(user.ok());
  CHECK(user->uid == 0);
  CHECK(user->gid == 0);
  CHECK(user->home == "/root");
  CHECK(user->groups == Groups{0});
}

TEST_CASE("empty user spec without passwd file is root with home slash") {
  auto user = resolve_user("", "", "");
  REQUIRE(user.ok());
  CHECK(user->uid == 0);
  CHECK(user->gid == 0);
  CHECK(user->home == "/");
}

TEST_CASE("user name resolves uid, primary gid, home and supplementary groups") {
  auto user = resolve_user("alice", kPasswd, kGroup);
  REQUIRE(user.ok());
  CHECK(user->uid == 1000);
  CHECK(user->gid == 1000);
  CHECK(user->home == "/home/alice");
  CHECK(user->groups == Groups{1000, 10, 29});
}

TEST_CASE("numeric uid with a passwd entry uses that entry") {
  auto user = resolve_user("1000", kPasswd, kGroup);
  REQUIRE(user.ok());
  CHECK(user->uid == 1000);
  CHECK(user->gid == 1000);
  CHECK(user->home == "/home/alice");
  CHECK(user->groups == Groups{1000, 10, 29});
}

TEST_CASE("numeric uid without passwd entry gets gid 0") {
  auto user = resolve_user("4242", kPasswd, kGroup);
  REQUIRE(user.ok());
  CHECK(user->uid == 4242);
  CHECK(user->gid == 0);
  CHECK(user->home == "/");
  CHECK(user->groups == Groups{0});
}

TEST_CASE("uid:gid uses both numbers even without entries") {
  auto user = resolve_user("4242:4343", kPasswd, kGroup);
  REQUIRE(user.ok());
  CHECK(user->uid == 4242);
  CHECK(user->gid == 4343);
  CHECK(user->groups == Groups{4343});
}

TEST_CASE("name:group sets the primary group and no supplementary groups") {
  auto user = resolve_user("alice:staff", kPasswd, kGroup);
  REQUIRE(user.ok());
  CHECK(user->uid == 1000);
  CHECK(user->gid == 50);
  CHECK(user->home == "/home/alice");
  CHECK(user->groups == Groups{50});
}

TEST_CASE("uid:group resolves the group by name") {
  auto user = resolve_user("1000:wheel", kPasswd, kGroup);
  REQUIRE(user.ok());
  CHECK(user->uid == 1000);
  CHECK(user->gid == 10);
}

TEST_CASE("trailing colon with empty group keeps the passwd gid") {
  auto user = resolve_user("daemon:", kPasswd, kGroup);
  REQUIRE(user.ok());
  CHECK(user->uid == 1);
  CHECK(user->gid == 1);
}

TEST_CASE("unknown user name is an error with docker's message") {
  auto user = resolve_user("mallory", kPasswd, kGroup);
  REQUIRE_FALSE(user.ok());
  CHECK(user.error().message == "unable to find user mallory: no matching entries in passwd file");
}

TEST_CASE("unknown group name is an error with docker's message") {
  auto user = resolve_user("alice:nogroup", kPasswd, kGroup);
  REQUIRE_FALSE(user.ok());
  CHECK(user.error().message == "unable to find group nogroup: no matching entries in group file");
}

TEST_CASE("user with empty home field gets home slash") {
  auto user = resolve_user("nohome", kPasswd, kGroup);
  REQUIRE(user.ok());
  CHECK(user->uid == 1001);
  CHECK(user->home == "/");
}

TEST_CASE("malformed passwd lines are skipped") {
  const char* passwd =
      "broken line without colons\n"
      "short:x:5:5\n"
      "badid:x:abc:5:::/bin/sh\n"
      "negative:x:-1:5:::/bin/sh\n"
      "toolarge:x:99999999999:5:::/bin/sh\n"
      ":x:7:7:::/bin/sh\n"
      "good:x:7:8::/home/good:/bin/sh\r\n";
  auto entries = parse_passwd(passwd);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].name == "good");
  CHECK(entries[0].uid == 7);
  CHECK(entries[0].gid == 8);
  CHECK(entries[0].home == "/home/good");
  CHECK_FALSE(resolve_user("badid", passwd, "").ok());
}

TEST_CASE("malformed group lines are skipped and empty members ignored") {
  auto entries = parse_group(
      "nogid:x::alice\n"
      "three:x:3\n"
      "dev:x:20:alice,,bob,\n");
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].name == "dev");
  CHECK(entries[0].gid == 20);
  CHECK(entries[0].members == std::vector<std::string>{"alice", "bob"});
}

TEST_CASE("supplementary groups are not duplicated with the primary group") {
  auto user = resolve_user("alice", kPasswd, "alice:x:1000:alice\nwheel:x:10:alice\n");
  REQUIRE(user.ok());
  CHECK(user->groups == Groups{1000, 10});
}
