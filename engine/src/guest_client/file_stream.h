// File streams on the host side: reading, writing and listing any guest path through the agent
// (protocol in guest_protocol/protocol.h, "File streams"), as root in the guest, without the VFS.
//
// THREAT MODEL: what the guest sends is bounded before it is kept. A read never accumulates
// more than the `limit` it asked for; a listing stops at kMaxListEntries entries and
// kMaxListingBytes of names; a malformed or unexpected frame closes the channel.
#pragma once

#include <cstdint>
#include <functional>
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

using FileReadDone = std::function<void(Result<FileReadResult>)>;
using FileWriteDone = std::function<void(Status)>;
using FileListDone = std::function<void(Result<std::vector<FileEntry>>)>;

// One file stream. Its callback is called exactly once: with the result, the guest's error
// (kNotFound for ENOENT, kInvalidArgument for EISDIR, EINVAL and ENOTDIR, kGuest otherwise;
// the guest's message names the path), or the lost channel's error (kGuest/kProtocol).
class FileHandle : public GuestStream {
 public:
  enum class Op { kRead, kWrite, kList };
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
  std::vector<FileEntry> entries_;
  size_t listing_bytes_ = 0;
  FileReadDone on_read_;
  FileWriteDone on_write_;
  FileListDone on_list_;
};

// The Error for a guest file ERROR {"message","errno"}; `message` is the guest's, already cut.
Error guest_file_error(const std::string& message, int error_number);

}  // namespace matchlock::guest_client
