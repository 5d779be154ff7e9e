#include "file_session.h"

#include <dirent.h>
#include <fcntl.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>

#include "agent_messages.h"
#include "file_ops.h"
#include "fs_util.h"
#include "log.h"

namespace matchlock::guest_agent {

using guest_protocol::FrameType;
using guest_protocol::StreamFd;

namespace {

constexpr uint64_t kMaxOffset = static_cast<uint64_t>(std::numeric_limits<off_t>::max());
constexpr uint64_t kMaxCredit = uint64_t{1} << 40;
// A FILE_LISTING frame is flushed once its JSON passes this, leaving room for one more entry
// (a 255-byte name escaped as \uXXXX is under 1.6 KiB).
constexpr size_t kListingFlushAt = guest_protocol::kMaxFramePayload - 16 * 1024;

// The string member `key` when it is an absolute path without NUL bytes.
std::optional<std::string> absolute_path_member(const rapidjson::Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsString()) return std::nullopt;
  std::string path(it->value.GetString(), it->value.GetStringLength());
  if (path.empty() || path[0] != '/' || path.size() > 4096 ||
      path.find('\0') != std::string::npos) {
    return std::nullopt;
  }
  return path;
}

// The request's fields, or nullopt when it is not an object with an absolute "path".
struct Request {
  rapidjson::Document doc;
  std::string path;
};
std::optional<Request> parse_request(std::string_view body) {
  Request r;
  r.doc.Parse(body.data(), body.size());
  if (r.doc.HasParseError() || !r.doc.IsObject()) return std::nullopt;
  auto path = absolute_path_member(r.doc, "path");
  if (!path) return std::nullopt;
  r.path = std::move(*path);
  return r;
}

uint64_t get_u64(const rapidjson::Value& obj, const char* key, uint64_t fallback) {
  auto it = obj.FindMember(key);
  return it != obj.MemberEnd() && it->value.IsUint64() ? it->value.GetUint64() : fallback;
}

bool get_bool(const rapidjson::Value& obj, const char* key, bool fallback) {
  auto it = obj.FindMember(key);
  return it != obj.MemberEnd() && it->value.IsBool() ? it->value.GetBool() : fallback;
}

// Where a mistyped stat leaves us: a directory is EISDIR, anything else not regular EINVAL.
int not_regular_errno(mode_t mode) {
  return S_ISDIR(mode) ? EISDIR : EINVAL;
}

}  // namespace

FileSession::FileSession(const guest_protocol::Frame& open, FrameSink& sink)
    : stream_(open.stream), sink_(sink) {
  switch (open.type) {
    case FrameType::kFileRead:
      kind_ = Kind::kRead;
      start_read(open.payload);
      return;
    case FrameType::kFileWrite:
      kind_ = Kind::kWrite;
      start_write(open.payload);
      return;
    case FrameType::kFileStat:
      kind_ = Kind::kStat;
      stat(open.payload);
      return;
    case FrameType::kFileMkdir:
      kind_ = Kind::kMkdir;
      make_dir(open.payload);
      return;
    case FrameType::kFileRemove:
      kind_ = Kind::kRemove;
      remove(open.payload);
      return;
    case FrameType::kFileRename:
      kind_ = Kind::kRename;
      rename(open.payload);
      return;
    default:
      kind_ = Kind::kList;
      list(open.payload);
      return;
  }
}

void FileSession::start_read(std::string_view body) {
  auto request = parse_request(body);
  if (!request) return refuse("FILE_READ needs an absolute \"path\"", EINVAL);
  path_ = std::move(request->path);
  offset_ = get_u64(request->doc, "offset", 0);
  remaining_ = get_u64(request->doc, "limit", 0);
  credit_ = guest_protocol::kInitialCredit;
  if (offset_ > kMaxOffset) return fail("read", EINVAL);
  // O_NONBLOCK: opening a FIFO must not hang the agent (it is refused below anyway).
  file_.reset(::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!file_) return fail("open", errno);
  struct stat st {};
  if (::fstat(file_.get(), &st) != 0) return fail("stat", errno);
  if (!S_ISREG(st.st_mode)) return fail("read", not_regular_errno(st.st_mode));

  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("size");
  writer.Uint64(static_cast<uint64_t>(st.st_size));
  writer.Key("mode");
  writer.Uint(st.st_mode);
  writer.EndObject();
  sink_.send(FrameType::kFileInfo, stream_, buffer.GetString());
  if (remaining_ == 0) read_chunk();  // nothing asked: finish without waiting for a wake-up
}

std::optional<pollfd> FileSession::poll_request(bool port_has_room) const {
  if (state_ != State::kActive || kind_ != Kind::kRead || credit_ == 0 || !port_has_room) {
    return std::nullopt;
  }
  return pollfd{file_.get(), POLLIN, 0};
}

void FileSession::on_poll_ready(short revents) {
  if (state_ == State::kActive && kind_ == Kind::kRead && credit_ > 0 && revents != 0) {
    read_chunk();
  }
}

// One chunk per wake-up, so a large file cannot starve the other streams.
void FileSession::read_chunk() {
  char buf[guest_protocol::kMaxDataChunk];
  size_t want = static_cast<size_t>(std::min<uint64_t>({sizeof buf, credit_, remaining_}));
  ssize_t n = 0;
  if (want > 0) {
    do {
      n = ::pread(file_.get(), buf, want, static_cast<off_t>(offset_));
    } while (n < 0 && errno == EINTR);
    if (n < 0) return fail("read", errno);
  }
  if (n > 0) {
    offset_ += static_cast<uint64_t>(n);
    remaining_ -= static_cast<uint64_t>(n);
    credit_ -= static_cast<uint64_t>(n);
    sink_.send(FrameType::kData, stream_,
               guest_protocol::data_payload(StreamFd::kStdout,
                                            std::string_view(buf, static_cast<size_t>(n))));
    if (remaining_ > 0) return;
  }
  // End of file, or `limit` reached.
  sink_.send(FrameType::kEof, stream_, guest_protocol::fd_payload(StreamFd::kStdout));
  sink_.send(FrameType::kFileDone, stream_, "{}");
  done();
}

void FileSession::start_write(std::string_view body) {
  auto request = parse_request(body);
  if (!request) return refuse("FILE_WRITE needs an absolute \"path\"", EINVAL);
  path_ = std::move(request->path);
  offset_ = start_offset_ = get_u64(request->doc, "offset", 0);
  truncate_ = get_bool(request->doc, "truncate", true);
  auto mode = static_cast<mode_t>(get_u64(request->doc, "mode", 0644) & 07777);
  credit_ = guest_protocol::kInitialCredit;
  if (offset_ > kMaxOffset) return fail("write", EINVAL);
  if (get_bool(request->doc, "mkdirs", false) && !make_dirs(parent_of(path_))) {
    return fail("mkdir -p the parent of", errno);
  }
  const int flags = O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  bool created = true;
  file_.reset(::open(path_.c_str(), flags | O_CREAT | O_EXCL, mode));
  if (!file_ && errno == EEXIST) {
    created = false;
    file_.reset(::open(path_.c_str(), flags));
  }
  if (!file_) return fail("open", errno);
  struct stat st {};
  if (::fstat(file_.get(), &st) != 0) return fail("stat", errno);
  if (!S_ISREG(st.st_mode)) return fail("write", not_regular_errno(st.st_mode));
  // The umask must not narrow the mode the host asked for.
  if (created && ::fchmod(file_.get(), mode) != 0) return fail("chmod", errno);
}

void FileSession::write_bytes(std::string_view bytes) {
  // We credit back as we write, so more than the initial credit outstanding is a host bug.
  if (bytes.size() > credit_) return fail("write (the host sent beyond its credit)", EPROTO);
  if (bytes.size() > kMaxOffset - offset_) return fail("write", EFBIG);
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::pwrite(file_.get(), bytes.data() + written, bytes.size() - written,
                         static_cast<off_t>(offset_ + written));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("write", errno);
    written += static_cast<size_t>(n);
  }
  offset_ += written;
  if (written > 0) {
    sink_.send(FrameType::kCredit, stream_,
               guest_protocol::credit_payload(StreamFd::kStdin, static_cast<uint32_t>(written)));
  }
}

void FileSession::finish_write() {
  if (truncate_ && ::ftruncate(file_.get(), static_cast<off_t>(offset_)) != 0) {
    return fail("truncate", errno);
  }
  // close() is where some filesystems report a failed write-back.
  if (::close(file_.release()) != 0) return fail("close", errno);
  sink_.send(FrameType::kFileDone, stream_, "{}");
  done();
}

void FileSession::list(std::string_view body) {
  auto request = parse_request(body);
  if (!request) return refuse("FILE_LIST needs an absolute \"path\"", EINVAL);
  path_ = std::move(request->path);
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(path_.c_str()),
                                          [](DIR* d) { return d ? ::closedir(d) : 0; });
  if (!dir) return fail("open", errno);

  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  auto begin_frame = [&] {
    buffer.Clear();
    writer.Reset(buffer);
    writer.StartObject();
    writer.Key("files");
    writer.StartArray();
  };
  auto send_frame = [&] {
    writer.EndArray();
    writer.EndObject();
    sink_.send(FrameType::kFileListing, stream_,
               std::string_view(buffer.GetString(), buffer.GetSize()));
  };
  begin_frame();
  size_t entries = 0, in_frame = 0;
  errno = 0;
  while (dirent* entry = ::readdir(dir.get())) {
    std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    struct stat st {};
    // Gone meanwhile, or unreadable: skip it rather than fail the whole listing.
    if (::fstatat(::dirfd(dir.get()), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (++entries > guest_protocol::kMaxListEntries) {
      return fail(
          "list (more than " + std::to_string(guest_protocol::kMaxListEntries) + " entries)",
          EOVERFLOW);
    }
    writer.StartObject();
    writer.Key("name");
    writer.String(name.data(), static_cast<rapidjson::SizeType>(name.size()));
    writer.Key("size");
    writer.Uint64(static_cast<uint64_t>(st.st_size));
    writer.Key("mode");
    writer.Uint(st.st_mode);
    writer.Key("is_dir");
    writer.Bool(S_ISDIR(st.st_mode));
    writer.Key("mtime");
    writer.Int64(static_cast<int64_t>(st.st_mtim.tv_sec));
    writer.EndObject();
    ++in_frame;
    if (buffer.GetSize() >= kListingFlushAt) {
      send_frame();
      begin_frame();
      in_frame = 0;
    }
    errno = 0;
  }
  if (errno != 0) return fail("list", errno);
  if (in_frame > 0 || entries == 0) send_frame();
  sink_.send(FrameType::kFileDone, stream_, "{}");
  done();
}

void FileSession::stat(std::string_view body) {
  auto request = parse_request(body);
  if (!request) return refuse("FILE_STAT needs an absolute \"path\"", EINVAL);
  path_ = std::move(request->path);
  struct stat st {};
  if (::lstat(path_.c_str(), &st) != 0) return fail("stat", errno);
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("size");
  writer.Uint64(static_cast<uint64_t>(st.st_size));
  writer.Key("mode");
  writer.Uint(st.st_mode);
  writer.Key("mtime");
  writer.Int64(static_cast<int64_t>(st.st_mtim.tv_sec));
  writer.EndObject();
  sink_.send(FrameType::kFileInfo, stream_, std::string_view(buffer.GetString(), buffer.GetSize()));
  sink_.send(FrameType::kFileDone, stream_, "{}");
  done();
}

void FileSession::make_dir(std::string_view body) {
  auto request = parse_request(body);
  if (!request) return refuse("FILE_MKDIR needs an absolute \"path\"", EINVAL);
  path_ = std::move(request->path);
  const auto mode = static_cast<mode_t>(get_u64(request->doc, "mode", 0755) & 07777);
  answer(make_directory(path_, mode, get_bool(request->doc, "parents", false)));
}

void FileSession::remove(std::string_view body) {
  auto request = parse_request(body);
  if (!request) return refuse("FILE_REMOVE needs an absolute \"path\"", EINVAL);
  path_ = std::move(request->path);
  answer(remove_path(path_, get_bool(request->doc, "recursive", false)));
}

void FileSession::rename(std::string_view body) {
  auto request = parse_request(body);
  std::optional<std::string> to;
  if (request) to = absolute_path_member(request->doc, "new_path");
  if (!request || !to) {
    return refuse("FILE_RENAME needs an absolute \"path\" and \"new_path\"", EINVAL);
  }
  path_ = std::move(request->path);
  answer(rename_path(path_, *to));
}

void FileSession::answer(const FileOpOutcome& outcome) {
  if (outcome) return refuse(outcome->message(), outcome->error);
  sink_.send(FrameType::kFileDone, stream_, "{}");
  done();
}

void FileSession::on_frame(const guest_protocol::Frame& frame) {
  if (state_ != State::kActive) return;  // late frames after the end are normal
  switch (frame.type) {
    case FrameType::kData: {
      auto data = guest_protocol::parse_data(frame.payload);
      if (kind_ == Kind::kWrite && data && data->fd == StreamFd::kStdin) write_bytes(data->bytes);
      return;
    }
    case FrameType::kEof: {
      auto fd = guest_protocol::parse_fd(frame.payload);
      if (kind_ == Kind::kWrite && fd && *fd == StreamFd::kStdin) finish_write();
      return;
    }
    case FrameType::kCredit: {
      auto credit = guest_protocol::parse_credit(frame.payload);
      if (kind_ == Kind::kRead && credit && credit->fd == StreamFd::kStdout) {
        credit_ = std::min(credit_ + credit->bytes, kMaxCredit);
      }
      return;
    }
    default:
      log_line(std::string("unexpected ") + guest_protocol::frame_type_name(frame.type) +
               " on file stream " + std::to_string(stream_) + " ignored");
      return;
  }
}

void FileSession::fail(const std::string& what, int error) {
  refuse(what + " " + path_ + ": " + std::strerror(error), error);
}

void FileSession::refuse(const std::string& message, int error) {
  if (state_ == State::kDone) return;
  sink_.send(FrameType::kError, stream_, file_error_message(message, error));
  done();
}

void FileSession::done() {
  state_ = State::kDone;
  file_.reset();
}

}  // namespace matchlock::guest_agent
