// The POSIX tar format (ustar headers, pax extended records, GNU long names) as the layer
// builtins write and read it. Pure functions over bytes: no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace matchlock::guest_agent::tar {

inline constexpr size_t kBlockSize = 512;

// Entry types (the ustar typeflag byte; GNU 'L'/'K' carry the next entry's long names).
inline constexpr char kRegular = '0';
inline constexpr char kRegularOld = '\0';
inline constexpr char kContiguous = '7';
inline constexpr char kHardLink = '1';
inline constexpr char kSymlink = '2';
inline constexpr char kCharDevice = '3';
inline constexpr char kBlockDevice = '4';
inline constexpr char kDirectory = '5';
inline constexpr char kFifo = '6';
inline constexpr char kPaxExtended = 'x';
inline constexpr char kPaxGlobal = 'g';
inline constexpr char kGnuLongName = 'L';
inline constexpr char kGnuLongLink = 'K';

inline constexpr std::string_view kWhiteoutPrefix = ".wh.";
inline constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
inline constexpr std::string_view kXattrPaxPrefix = "SCHILY.xattr.";

// One entry's metadata, after pax and GNU records are folded in.
struct Entry {
  std::string name;  // as stored (not cleaned)
  char type = kRegular;
  uint32_t mode = 0;  // permission bits incl. setuid/setgid/sticky (no type bits)
  uint64_t uid = 0, gid = 0;
  uint64_t size = 0;
  int64_t mtime = 0;
  std::string link_name;
  uint32_t dev_major = 0, dev_minor = 0;
  std::map<std::string, std::string> xattrs;  // name without "SCHILY.xattr."
};

// The header block(s) for `entry`: a pax 'x' header first when a value does not fit ustar
// (long name or link, large size or ids, mtime out of range, xattrs). Size is a multiple of
// kBlockSize; the caller writes the entry's data padded to a block after it.
std::string encode_header(const Entry& entry);

// Zero bytes that pad `size` bytes of data to a whole block.
size_t padding_for(uint64_t size);

// A ustar header block, decoded. nullopt: the block is all zeros (end of archive).
// THREAT: the block comes from a hostile tar: fields are parsed strictly, the checksum checked.
Result<std::optional<Entry>> decode_header(std::string_view block);

// "len key=value\n" records of a pax header body, applied onto `entry` (path, linkpath, size,
// uid, gid, mtime, SCHILY.xattr.*); unknown keys are ignored.
Status apply_pax_records(std::string_view body, Entry& entry);

}  // namespace matchlock::guest_agent::tar
