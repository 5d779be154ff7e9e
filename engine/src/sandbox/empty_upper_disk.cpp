#include "sandbox/empty_upper_disk.h"

#include <algorithm>
#include <fstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "core/paths.h"
#include "core/pid_named.h"
#include "sandbox/sparse_file.h"
#include "vm/bundle.h"

namespace matchlock::sandbox {
namespace fs = std::filesystem;

namespace {

// Part of the names: a change to how vm::create_upper_disk formats the disk renames them, so an
// older cached filesystem is never copied.
constexpr char kFormat[] = "ext4-v1";
// One cached filesystem per disk size, a few MB each: the least recently made beyond this many
// are removed, so a user trying many --disk-size values does not grow the cache without bound.
constexpr size_t kMaxCachedDisks = 4;

struct CachedDisk {
  fs::path disk;    // the empty filesystem
  fs::path digest;  // sparse_file.h's digest of it, one line
};

CachedDisk cached_disk(const fs::path& dir, uint64_t size_mib) {
  const std::string stem = std::string("upper-") + kFormat + "-" + std::to_string(size_mib) + "MiB";
  return {dir / (stem + ".img"), dir / (stem + ".digest")};
}

// What a maker writes before renaming it into place: ".making-<pid>-<n>.img" / ".digest".
constexpr std::string_view kMakingPrefix = ".making-";

std::string read_digest(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return line;
}

void drop(const CachedDisk& cached) {
  std::error_code ec;
  fs::remove(cached.disk, ec);
  fs::remove(cached.digest, ec);
  // Engines before XXH3 digests wrote SHA-256 ones beside the disk as ".sha256".
  fs::remove(fs::path(cached.digest).replace_extension(".sha256"), ec);
}

// Keeps the kMaxCachedDisks newest cached filesystems (by modification time) and their digests.
void evict_old_cached_disks(const fs::path& dir) {
  std::vector<std::pair<fs::file_time_type, fs::path>> disks;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("upper-", 0) != 0 || e.path().extension() != ".img") continue;
    disks.emplace_back(e.last_write_time(ec), e.path());
  }
  if (disks.size() <= kMaxCachedDisks) return;
  std::sort(disks.begin(), disks.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = kMaxCachedDisks; i < disks.size(); ++i) {
    fs::path digest = disks[i].second;
    drop({disks[i].second, digest.replace_extension(".digest")});
  }
}

// Makes a new empty filesystem, copies it to `to` (the copy's digest is the one recorded), then
// stores it and its digest in the cache, each renamed into place whole. Two makers at once may
// leave one's disk beside the other's digest: the next copy's check drops both. Only a failure
// to make `to` is an error; one to store the cached copy just leaves the cache as it was.
Status make_disk_and_cache_it(const CachedDisk& cached, const fs::path& to, uint64_t size_mib) {
  std::error_code ec;
  fs::create_directories(cached.disk.parent_path(), ec);
  if (ec) return io_error("create " + cached.disk.parent_path().string() + ": " + ec.message());
  const fs::path dir = cached.disk.parent_path();
  remove_dead_makers_leftovers(dir);  // a maker killed mid-way left its files
  const std::string stem = pid_named::unique_name(kMakingPrefix);
  const fs::path disk_tmp = dir / (stem + ".img");
  const fs::path digest_tmp = dir / (stem + ".digest");
  auto cleanup = [&] {
    fs::remove(disk_tmp, ec);
    fs::remove(digest_tmp, ec);
  };
  Status made = vm::create_upper_disk(disk_tmp, size_mib);
  if (!made.ok()) {
    cleanup();
    return made;
  }
  auto digest = copy_sparse_file(disk_tmp, to);
  if (!digest.ok()) {
    cleanup();
    fs::remove(to, ec);
    return digest.error();
  }
  std::ofstream(digest_tmp, std::ios::trunc) << *digest << "\n";
  fs::rename(digest_tmp, cached.digest, ec);
  if (!ec) fs::rename(disk_tmp, cached.disk, ec);
  cleanup();  // what a failed rename left
  evict_old_cached_disks(dir);
  return Status();
}

// Copies the cached filesystem to `to`; false (and `to` removed) when it is missing or fails its
// digest.
bool copy_cached_disk(const CachedDisk& cached, const fs::path& to, uint64_t size_mib) {
  std::error_code ec;
  if (!fs::exists(cached.disk, ec)) return false;
  const std::string want = read_digest(cached.digest);
  auto got = copy_sparse_file(cached.disk, to);
  if (got.ok() && !want.empty() && *got == want && fs::file_size(to, ec) == size_mib << 20 && !ec) {
    return true;
  }
  fs::remove(to, ec);
  drop(cached);
  return false;
}

}  // namespace

fs::path empty_upper_disk_cache() {
  return matchlock_home() / "cache" / "upper";
}

int remove_dead_makers_leftovers(const fs::path& cache_dir,
                                 const std::function<void(const fs::path&)>& removed) {
  return pid_named::remove_dead_makers_leftovers(cache_dir, kMakingPrefix, removed);
}

Status create_empty_upper_disk(const fs::path& cache_dir, const fs::path& to, uint64_t size_mib) {
  // Checked first: a failed copy removes its target, which must then be one it made.
  std::error_code ec;
  if (fs::symlink_status(to, ec).type() != fs::file_type::not_found) {
    return io_error("create " + to.string() + ": it already exists");
  }
  const CachedDisk cached = cached_disk(cache_dir, size_mib);
  if (copy_cached_disk(cached, to, size_mib)) return Status();
  if (make_disk_and_cache_it(cached, to, size_mib).ok()) return Status();
  return vm::create_upper_disk(to, size_mib);  // the cache directory is unusable
}

}  // namespace matchlock::sandbox
