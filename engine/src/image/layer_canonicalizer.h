// Turns a layer tar produced inside a guest VM into the canonical layer tar the image store
// keeps. THE INPUT IS HOSTILE: the guest may send any bytes. Every name is confined to a clean
// relative path (".." rejected, absolute names made relative), hardlinks must name an earlier
// entry of the same tar, whiteouts must be empty regular files, nothing may sit below a
// non-directory, and the entry count, per-entry metadata (names, link targets, pax records,
// xattrs) and total content are bounded. Later entries of a name replace earlier ones, as tar
// extraction would. Entries are then rewritten by LayerTarWriter in canonical order, content
// spooled through an unlinked temp file beside `out_tar` (sorting needs every entry first).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "core/result.h"

namespace matchlock::image {

struct LayerLimits {
  uint64_t max_entries = 1'000'000;
  uint64_t max_total_bytes = 64ULL << 30;  // file content, summed over all entries
  size_t max_name_bytes = 4096;            // a path or link target
  size_t max_component_bytes = 255;        // one path component (NAME_MAX)
  size_t max_metadata_bytes = 1 << 20;     // one entry's names + xattrs (what pax headers carry)
  size_t max_xattrs = 128;                 // per entry
  // Raw tar bytes read, headers and padding included: bounds what a reader must buffer for
  // headers (pax records, GNU long names) whatever the entries claim.
  uint64_t max_input_bytes = (64ULL << 30) + (4ULL << 30);
};

struct CanonicalLayer {
  std::string diff_id;  // "sha256:<hex>" of out_tar
  int64_t size = 0;     // bytes of out_tar
  uint64_t entries = 0;
};

// Reads the tar from `in_fd` to its end and writes `out_tar` (created or replaced). On error
// `out_tar` is removed and the message names the offending entry.
Result<CanonicalLayer> canonicalize_layer(int in_fd, const std::filesystem::path& out_tar,
                                          const LayerLimits& limits = {});

}  // namespace matchlock::image
