// A file lines are appended to by several writers (logs the user reads and ships): opened
// O_APPEND, so each line written with one write(2) lands whole at the end, never interleaved
// with another writer's. A failing write (disk full) is reported once on stderr, naming the
// file, and never stops the caller: such logs are observers.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"
#include "core/unique_fd.h"

namespace matchlock {

class AppendFile {
 public:
  // Creates the file (mode 0600) when missing. `what` names it in messages ("event log").
  // `readable`: also open it for reading (the usage log sums what earlier runs appended).
  static Result<AppendFile> open(const std::string& path, std::string what, bool readable = false);

  // Appends `line` (newline included by the caller); a short write is finished rather than
  // left as half a line.
  void append(std::string_view line);

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  size_t failed_writes() const { return failed_writes_; }

 private:
  AppendFile(UniqueFd fd, std::string path, std::string what)
      : fd_(std::move(fd)), path_(std::move(path)), what_(std::move(what)) {}

  UniqueFd fd_;
  std::string path_;
  std::string what_;
  size_t failed_writes_ = 0;
};

}  // namespace matchlock
