#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "vfs/memory_provider.h"
#include "vfs/mount_table.h"

using namespace matchlock::vfs;

TEST_CASE("mount_table_routes_to_the_longest_mount_point", "[vfs][mount_table]") {
  auto root = std::make_shared<MemoryProvider>();
  auto inner = std::make_shared<MemoryProvider>();
  auto t = MountTable::create({{"", root, false}, {"data/in", inner, false}});
  REQUIRE(t);
  auto r = t->resolve("data/in/x/y");
  CHECK(r.mount->provider == inner);
  CHECK(r.path == "x/y");
  CHECK(t->resolve("data/in").path.empty());
  CHECK(t->resolve("data/inner").mount->provider == root);
  CHECK(t->resolve("data/inner").path == "data/inner");
  CHECK(t->resolve("data").mount == nullptr);
  CHECK(t->serving("data").mount->provider == root);
  CHECK(t->is_synthesised("data"));
  CHECK_FALSE(t->is_synthesised(""));  // a mount point itself, not synthesised
  CHECK(t->children_of("") == std::vector<std::string>{"data"});
  CHECK(t->children_of("data") == std::vector<std::string>{"in"});
  CHECK(t->children_of("data/in").empty());
}

TEST_CASE("mount_table_validates_mount_points", "[vfs][mount_table]") {
  auto p = std::make_shared<MemoryProvider>();
  CHECK_FALSE(MountTable::create({{"a", p, false}, {"a", p, false}}));
  CHECK_FALSE(MountTable::create({{"f", p, true}, {"f/x", p, false}}));
  CHECK_FALSE(MountTable::create({{"../x", p, false}}));
  CHECK_FALSE(MountTable::create({{"a//b", p, false}}));
  CHECK_FALSE(MountTable::create({{"/a", p, false}}));
  CHECK_FALSE(MountTable::create({{"a", nullptr, false}}));
  auto t = MountTable::create({{"a", p, false}});
  REQUIRE(t);
  CHECK(t->mounts().size() == 2);  // an empty memory root was added
  CHECK(t->resolve("b").mount->point.empty());
}

TEST_CASE("the implicit workspace root is writable by every guest user, like /tmp", "[vfs]") {
  auto table = MountTable::create({});
  REQUIRE(table.ok());
  auto root = table->resolve("");
  REQUIRE(root.mount != nullptr);
  auto attr = root.mount->provider->stat("");
  REQUIRE(attr.ok());
  CHECK(attr->mode == (S_IFDIR | 01777));
}
