#include "rpc/log_stream.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "core/log.h"
#include "core/unique_fd.h"

namespace matchlock::rpc {

LogStream::LogStream(uv_loop_t* loop, std::filesystem::path dir, std::optional<uint64_t> id,
                     SendFn send)
    : loop_(loop),
      dir_(std::move(dir)),
      names_(vm_log_file_names()),
      id_(id),
      send_(std::move(send)),
      cursor_(names_.size()) {}

LogStream::~LogStream() {
  stop();
}

Status LogStream::start() {
  // Watch first, so nothing appended between the first read and the watch is missed. The
  // directory rather than the files: output.log may not exist yet.
  int rc = watch_.init(loop_, this, uv_fs_event_init);
  if (rc == 0) {
    rc = uv_fs_event_start(
        watch_.get(),
        [](uv_fs_event_t* h, const char* filename, int, int status) {
          auto* self = static_cast<LogStream*>(h->data);
          if (!self || status != 0) return;
          // Other files of the directory (engine.log, the control socket) change too.
          if (filename) {
            bool ours = false;
            for (const auto& n : self->names_) ours = ours || n == filename;
            if (!ours) return;
          }
          self->pump();
        },
        dir_.c_str(), 0);
  }
  if (rc != 0) {
    watch_.close();
    return io_error("watch VM log in " + dir_.string() + ": " + uv::error_text(rc));
  }
  pump();
  return {};
}

void LogStream::stop() {
  stopped_ = true;
  watch_.close();
}

std::vector<uint64_t> LogStream::file_sizes() const {
  std::vector<uint64_t> sizes;
  for (const auto& n : names_) {
    struct stat st {};
    sizes.push_back(::stat((dir_ / n).c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0);
  }
  return sizes;
}

// Reads and sends chunks until caught up or one chunk is waiting for the output. The reads are
// at most kLogChunkBytes from local files, short enough for the loop.
void LogStream::pump() {
  if (pumping_) return;
  pumping_ = true;
  while (!stopped_ && !in_flight_) {
    auto read = cursor_.next(file_sizes(), kLogChunkBytes);
    if (!read) break;
    UniqueFd fd(::open((dir_ / names_[read->file]).c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) break;  // replaced in between: the next fs event tells
    std::string chunk(read->length, '\0');
    ssize_t n;
    do {
      n = ::pread(fd.get(), chunk.data(), chunk.size(), static_cast<off_t>(read->offset));
    } while (n < 0 && errno == EINTR);
    if (n <= 0) break;  // truncated in between: the next fs event tells
    chunk.resize(static_cast<size_t>(n));
    cursor_.advance(read->file, chunk.size());
    in_flight_ = true;
    std::weak_ptr<LogStream> weak = weak_from_this();
    send_(std::move(chunk), [weak] {
      auto self = weak.lock();
      if (!self) return;
      self->in_flight_ = false;
      self->pump();
    });
  }
  pumping_ = false;
}

}  // namespace matchlock::rpc
