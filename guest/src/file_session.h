// One file stream in the agent (protocol.h, "File streams"): FILE_READ, FILE_WRITE, FILE_LIST,
// FILE_STAT, FILE_MKDIR, FILE_REMOVE or FILE_RENAME on any guest path, done by the agent itself
// as root (the filesystem work of the last three is in file_ops.h).
//
// THREAT MODEL (both ways): the host's numbers are bounded here too. A read never sends more
// than `limit` bytes nor more than the host's credit; a write never takes more bytes than the
// credit it granted; a listing stops at kMaxListEntries.
//
// Reads go through the agent's poll() loop (a regular file is always readable), one chunk per
// wake-up and only while the port has room, so a large file cannot starve other streams. Writes
// happen as DATA arrives (pwrite, then CREDIT back); every other operation is answered at once.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "channel.h"
#include "core/unique_fd.h"
#include "file_ops.h"

namespace matchlock::guest_agent {

class FileSession {
 public:
  // Starts the operation that `open` (one of the file stream openers above) asks for. A bad
  // request or a failure is reported (ERROR) and leaves the session finished.
  FileSession(const guest_protocol::Frame& open, FrameSink& sink);

  bool finished() const { return state_ == State::kDone; }

  // A reading session's file while it may send more; nullopt otherwise.
  std::optional<pollfd> poll_request(bool port_has_room) const;
  void on_poll_ready(short revents);

  // DATA 0 / EOF 0 for a write, CREDIT 1 for a read; anything else is logged and ignored.
  void on_frame(const guest_protocol::Frame& frame);

 private:
  enum class Kind { kRead, kWrite, kList, kStat, kMkdir, kRemove, kRename };
  enum class State { kActive, kDone };

  void start_read(std::string_view request);
  void start_write(std::string_view request);
  void list(std::string_view request);
  void stat(std::string_view request);
  void make_dir(std::string_view request);
  void remove(std::string_view request);
  void rename(std::string_view request);
  void read_chunk();
  void write_bytes(std::string_view bytes);
  void finish_write();
  // FILE_DONE {} for nullopt, else ERROR with the failure's message and errno; ends the session.
  void answer(const FileOpOutcome& outcome);
  // ERROR {"message":"<what> <path>: <strerror>","errno":N}; ends the session.
  void fail(const std::string& what, int error);
  // ERROR with `message` as is; ends the session.
  void refuse(const std::string& message, int error);
  void done();

  uint32_t stream_;
  FrameSink& sink_;
  Kind kind_;
  State state_ = State::kActive;
  std::string path_;
  UniqueFd file_;
  // FILE_READ: next offset, bytes still allowed by "limit", credit for DATA 1.
  // FILE_WRITE: next offset, bytes written, bytes received but not yet credited back.
  uint64_t offset_ = 0;
  uint64_t remaining_ = 0;
  uint64_t credit_ = 0;
  uint64_t start_offset_ = 0;
  bool truncate_ = false;
};

}  // namespace matchlock::guest_agent
