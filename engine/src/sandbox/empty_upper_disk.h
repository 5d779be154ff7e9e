// A cold boot's writable disk: a copy of an empty filesystem of that size kept in the cache,
// made once with mkfs.ext4. Copying its few MB of metadata costs a few milliseconds where
// running mkfs.ext4 costs 10-20 ms of every cold boot. Each copy is checked against the digest
// recorded beside the cached one; a cached filesystem that fails the check (changed, truncated,
// torn by two makers at once) is dropped and made again.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>

#include "core/result.h"

namespace matchlock::sandbox {

// $MATCHLOCK_HOME/cache/upper: where a cold boot's empty disks are cached.
std::filesystem::path empty_upper_disk_cache();

// Makes the file `to` (which must not exist): an empty ext4 filesystem of `size_mib`, from the
// cache in `cache_dir` (made there first when missing). If the cache cannot be used (a
// read-only or full cache directory), mkfs.ext4 makes `to` directly (blocking).
Status create_empty_upper_disk(const std::filesystem::path& cache_dir,
                               const std::filesystem::path& to, uint64_t size_mib);

// Removes what makers that were killed mid-way left in `cache_dir` (done before each new disk is
// made, and by `gc`); `removed` is told each file. Returns how many could not be removed.
int remove_dead_makers_leftovers(
    const std::filesystem::path& cache_dir,
    const std::function<void(const std::filesystem::path&)>& removed = {});

}  // namespace matchlock::sandbox
