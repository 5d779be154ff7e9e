#include <catch2/catch.hpp>

#include "vfs/node_table.h"

using namespace matchlock::vfs;

TEST_CASE("node_table_paths_follow_renames_of_ancestors", "[vfs][node_table]") {
  NodeTable t;
  uint64_t d = *t.lookup(NodeTable::kRoot, "d");
  uint64_t f = *t.lookup(d, "f");
  CHECK(*t.path_of(f) == "d/f");
  t.renamed(NodeTable::kRoot, "d", NodeTable::kRoot, "e");
  CHECK(*t.path_of(f) == "e/f");
  CHECK(*t.lookup(NodeTable::kRoot, "e") == d);  // same node, one more lookup
}

TEST_CASE("node_table_detaches_renamed_over_and_removed_nodes", "[vfs][node_table]") {
  NodeTable t;
  uint64_t a = *t.lookup(NodeTable::kRoot, "a");
  uint64_t b = *t.lookup(NodeTable::kRoot, "b");
  t.renamed(NodeTable::kRoot, "a", NodeTable::kRoot, "b");
  CHECK(*t.path_of(a) == "b");
  CHECK_FALSE(t.path_of(b));
  CHECK(t.contains(b));
  t.forget(b, 1);
  CHECK_FALSE(t.contains(b));
  t.removed(NodeTable::kRoot, "b");
  CHECK_FALSE(t.path_of(a));
  uint64_t again = *t.lookup(NodeTable::kRoot, "b");
  CHECK(again != a);  // ids are never reused
  CHECK(again != b);
}

TEST_CASE("node_table_frees_at_zero_lookups_and_keeps_parents_of_live_children",
          "[vfs][node_table]") {
  NodeTable t;
  uint64_t d = *t.lookup(NodeTable::kRoot, "d");
  uint64_t f = *t.lookup(d, "f");
  t.forget(d, 5);
  CHECK(t.contains(d));  // f still hangs from it
  CHECK(*t.path_of(f) == "d/f");
  t.forget(f, 1);
  CHECK_FALSE(t.contains(f));
  CHECK_FALSE(t.contains(d));
  CHECK(t.size() == 1);
  t.forget(NodeTable::kRoot, 10);
  CHECK(t.path_of(NodeTable::kRoot));
  CHECK(t.lookup(12345, "x").error() == ENOENT);
}

TEST_CASE("node_table_is_bounded_and_exchanges", "[vfs][node_table]") {
  NodeTable t(3);
  uint64_t a = *t.lookup(NodeTable::kRoot, "a");
  uint64_t b = *t.lookup(NodeTable::kRoot, "b");
  CHECK(t.lookup(NodeTable::kRoot, "c").error() == ENFILE);
  t.exchanged(NodeTable::kRoot, "a", NodeTable::kRoot, "b");
  CHECK(*t.path_of(a) == "b");
  CHECK(*t.path_of(b) == "a");
}
