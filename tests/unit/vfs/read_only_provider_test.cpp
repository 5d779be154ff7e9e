// ReadOnlyProvider: reads pass through, every change is EROFS and the host tree stays as it was.
#include "vfs/read_only_provider.h"

#include <fcntl.h>
#include <linux/fs.h>

#include <catch2/catch.hpp>

#include "vfs/host_dir_provider.h"
#include "vfs_test_support.h"

using namespace matchlock::vfs;
using namespace vfs_test;

TEST_CASE("read_only_provider_refuses_every_change_with_erofs", "[vfs][read_only]") {
  TempDir dir;
  write_host(dir / "f", "data", 0644);
  REQUIRE(::mkdir((dir / "d").c_str(), 0755) == 0);
  REQUIRE(::symlink("f", (dir / "s").c_str()) == 0);
  std::string before = tree_snapshot(dir.path());
  auto host = HostDirProvider::serve(dir.path(), IdMap{}, false);
  REQUIRE(host.ok());
  ReadOnlyProvider p(std::move(host.value()));
  Caller caller{};

  CHECK(p.read_only());
  CHECK(p.create("new", O_RDWR, 0644, caller).error() == EROFS);
  CHECK(p.create("f", O_RDONLY, 0644, caller).error() == EROFS);
  CHECK(p.mkdir("nd", 0755, caller).error() == EROFS);
  CHECK(p.symlink("f", "ns", caller).error() == EROFS);
  CHECK(p.link("f", "nl").error() == EROFS);
  CHECK(p.unlink("f").error() == EROFS);
  CHECK(p.rmdir("d").error() == EROFS);
  CHECK(p.rename("f", "g", 0).error() == EROFS);
  CHECK(p.rename("f", "d", RENAME_EXCHANGE).error() == EROFS);
  AttrChange c;
  c.mode = 0777;
  CHECK(p.change("f", c).error() == EROFS);
  for (int flags : {O_WRONLY, O_RDWR, O_RDONLY | O_TRUNC, O_WRONLY | O_APPEND}) {
    CHECK(p.open("f", flags).error() == EROFS);
  }

  auto h = p.open("f", O_RDONLY);
  REQUIRE(h.ok());
  CHECK(read_all(**h) == "data");
  CHECK((*h)->write(0, "x").error() == EROFS);
  CHECK((*h)->change(c).error() == EROFS);
  CHECK((*h)->stat()->size == 4);
  CHECK(p.stat("d").ok());
  CHECK(names_of(*p.list("")) == std::vector<std::string>{"d", "f", "s"});
  CHECK(*p.readlink("s") == "f");
  CHECK(p.statfs().ok());
  CHECK(tree_snapshot(dir.path()) == before);
}
