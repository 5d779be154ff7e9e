// Checksums and copies of the sparse files a saved guest is made of: QEMU's mapped-ram state
// (as large as the guest's RAM, mostly holes) and the writable disk as it was at the save (a
// few MB of ext4 metadata in a file of gigabytes). Only data extents are read, and the digest
// covers each with its offset, so a hole costs nothing and moved data is still a change.
//
// The digest is XXH3-128: it finds a torn, truncated or changed file, which is what it is for;
// every warm start checks the whole saved state (tens of MB) with it, 15 ms for 63 MB where
// SHA-256 took 48 ms. It is no defence against someone who can write the cache: the recorded digest
// lives beside the file it describes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/result.h"

namespace matchlock::sandbox {

// "xxh3-128:<32 hex>" over every data extent of `file` ("<offset>+<length>:" then its bytes),
// and its size (blocking).
Result<std::string> digest_of_file(const std::filesystem::path& file, uint64_t* bytes);
// True for a string of the form digest_of_file returns.
bool is_file_digest(std::string_view text);

// Copies `from` to a new file `to` (mode 0600; it must not exist): the same size, the same data
// extents, holes left holes. Returns the digest digest_of_file gives for `from`, computed from
// the bytes written, so a caller that compares it with a recorded one knows the copy is sound
// (blocking).
Result<std::string> copy_sparse_file(const std::filesystem::path& from,
                                     const std::filesystem::path& to);

// The same into `out_fd`, an empty file opened for writing (`to` names it in errors): for a
// caller that made the file itself and hands its name to others while the copy runs.
Result<std::string> copy_sparse_file_into(const std::filesystem::path& from, int out_fd,
                                          const std::filesystem::path& to);

}  // namespace matchlock::sandbox
