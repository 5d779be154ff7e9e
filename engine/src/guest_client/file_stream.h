// File streams on the host side: reading, writing, listing, stat, mkdir, remove and rename of any
// guest path through the agent (protocol in guest_protocol/protocol.h, "File streams"), as root
// in the guest, without the VFS.
//
// THREAT MODEL: what the guest sends is bounded before it is kept. A read never accumulates
// more than the `limit` it asked for; a listing stops at kMaxListEntries entries and
// kMaxListingBytes of names; a stat's mode must fit st_mode's 16 bits; a malformed or
// unexpected frame closes the channel.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "guest_client/guest_stream.h"

namespace matchlock::guest_client {

// Most bytes of entry names one listing may hold (with kMaxListEntries, its memory bound).
inline constexpr size_t kMaxListingBytes = 64 << 20;

struct FileReadResult {
  std::string data;
  uint64_t file_size = 0;  // at open
  uint32_t mode = 0;       // st_mode
};

struct FileWriteRequest {
  std::string path;
  uint32_t mode = 0644;  // for a file that is created
  uint64_t offset = 0;
  bool truncate = true;  // to offset + data size afterwards
  bool mkdirs = true;    // mkdir -p the parent
};

struct FileEntry {
  std::string name;
  uint64_t size = 0;
  uint32_t mode = 0;  // st_mode (lstat)
  bool is_dir = false;
  int64_t mtime_unix = 0;
};

// lstat() of one guest path.
struct FileStat {
  uint64_t size = 0;
  uint32_t mode = 0;  // st_mode with its type bits
  int64_t mtime_unix = 0;
};

using FileReadDone = std::function<void(Result<FileReadResult>)>;
using FileWriteDone = std::function<void(Status)>;
using FileListDone = std::function<void(Result<std::vector<FileEntry>>)>;
// nullopt: the path, or one of its parents, does not exist (the guest's ENOENT or ENOTDIR).
using FileStatDone = std::function<void(Result<std::optional<FileStat>>)>;
// make_dir, remove_file, rename_file.
using FileOpDone = std::function<void(Status)>;

struct MakeDirRequest {
  std::string path;
  uint32_t mode = 0755;  // exactly, when the directory is created
  bool parents = true;   // create missing parents (0755); an existing directory is success
};

// One file stream. Its callback is called exactly once: with the result, the guest's error
// (kNotFound for ENOENT, kInvalidArgument for EISDIR, EINVAL and ENOTDIR, kGuest otherwise;
// the guest's message names the path), or the lost channel's error (kGuest/kProtocol). A stat
// answers ENOENT and ENOTDIR with nullopt instead.
class FileHandle : public GuestStream {
 public:
  enum class Op { kRead, kWrite, kList, kStat, kMkdir, kRemove, kRename };
  explicit FileHandle(Op op) : GuestStream(Kind::kFile), op_(op) {}

  // Drops the callback and any bytes read. The stream still runs to its end (the agent has no
  // way to stop one early): a read's remaining bytes, bounded by its limit, are discarded as
  // they come; a write's bytes still go out.
  void abandon();

 private:
  friend class GuestConnection;
  void deliver_bytes(guest_protocol::StreamFd fd, std::string_view bytes,
                     std::function<void()> consumed) override;
  void deliver_eof(guest_protocol::StreamFd fd) override;
  void deliver_lost(const Error& reason) override;
  // FILE_INFO: the read's file, or the stat's answer (then with "mtime").
  bool parse_info(const std::string& payload);
  // DATA and EOF only after FILE_INFO, and only on a read.
  bool accepts_output() const override { return op_ == Op::kRead && info_seen_; }
  // Calls whichever callback this stream has, once.
  void complete(const Error& error);

  Op op_;
  uint64_t limit_ = 0;
  uint64_t received_ = 0;  // DATA bytes of a read, kept or not
  bool abandoned_ = false;
  bool info_seen_ = false;
  FileReadResult read_;
  FileStat stat_;
  std::vector<FileEntry> entries_;
  size_t listing_bytes_ = 0;
  FileReadDone on_read_;
  FileOpDone on_status_;  // write, mkdir, remove, rename
  FileListDone on_list_;
  FileStatDone on_stat_;
};

// The Error for a guest file ERROR {"message","errno"}; `message` is the guest's, already cut.
Error guest_file_error(const std::string& message, int error_number);

}  // namespace matchlock::guest_client
