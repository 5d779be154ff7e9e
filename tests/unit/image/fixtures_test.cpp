// Imports the real archives from the OCI fixtures (tests/fixtures/oci-fixtures.sh), if built.
#include <catch2/catch.hpp>

#include "image/image_store.h"
#include "image_test_util.h"

using namespace matchlock::image;
using namespace matchlock::image::testing;
namespace fs = std::filesystem;

namespace {

fs::path fixtures_dir() {
  const char* d = std::getenv("OCI_FIXTURES_DIR");
  return d && *d ? fs::path(d) : fs::path("/tmp/ocifix");
}

}  // namespace

TEST_CASE("the fixture archives import and build base disks with whiteouts applied",
          "[image][fixtures]") {
  fs::path archives = fixtures_dir() / "archives";
  if (!fs::exists(archives / "layered.docker-archive.tar")) {
    WARN("OCI fixtures not found in " + archives.string() + ": skipped (run oci-fixtures.sh)");
    return;
  }
  TempDir tmp;
  auto store = ImageStore::open(tmp / "images");
  REQUIRE(store.ok());
  for (const std::string file :
       {"busybox.docker-archive.tar", "busybox.save25-gzip.tar", "busybox.oci-archive.tar",
        "layered.docker-archive.tar", "layered.save25-plain.tar"}) {
    INFO(file);
    std::string name = "fx/" + file.substr(0, file.find('.')) + ":" +
                       file.substr(file.find('.') + 1, file.rfind('.') - file.find('.') - 1);
    auto rec = (*store)->import_archive(name, archives / file);
    REQUIRE(rec.ok());
    auto disk = (*store)->base_disk(*rec);
    REQUIRE(disk.ok());
    CHECK(debugfs_cmd(*disk, "stat /bin/busybox").find("Type: regular") != std::string::npos);
    if (file.starts_with("layered")) {
      CHECK(debugfs_cmd(*disk, "stat /etc/removeme.txt").empty());
      CHECK(debugfs_cmd(*disk, "stat /usr/bin/wget").empty());
      CHECK(debugfs_cmd(*disk, "cat /etc/motd").find("v2") != std::string::npos);
      std::string app = debugfs_cmd(*disk, "ls /opt/app");
      CHECK(app.find("new.txt") != std::string::npos);
      CHECK(app.find("old1") == std::string::npos);
      CHECK(debugfs_cmd(*disk, "stat /opt/keep/keep.txt").find("Type: regular") !=
            std::string::npos);
      CHECK(debugfs_cmd(*disk, "ls /opt").find("\\xc3") != std::string::npos);  // ünïcödé
    }
  }
}
