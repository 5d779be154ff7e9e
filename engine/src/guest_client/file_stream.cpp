// File streams on the host side: FileHandle and the GuestConnection members that open a read,
// write or listing (stat, mkdir, remove and rename open in file_ops_stream.cpp) and interpret
// every file stream's frames. DATA, EOF and CREDIT are checked in guest_connection.cpp like on
// every stream (credit, FILE_INFO first); the bounds of what is kept are checked here.
#include "guest_client/file_stream.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/json.h"
#include "guest_client/guest_connection.h"

namespace matchlock::guest_client {

using guest_protocol::FrameType;
using guest_protocol::StreamFd;

namespace {

// Guest-supplied error texts are cut to this before they reach logs or clients.
constexpr size_t kMaxGuestMessage = 1000;
constexpr size_t kMaxNameBytes = 255;  // NAME_MAX

bool absolute_path(std::string_view path) {
  return !path.empty() && path[0] == '/' && path.size() <= 4096 &&
         path.find('\0') == std::string_view::npos;
}

// Linux keeps st_mode in 16 bits; anything above is not a mode the guest could have read.
constexpr uint32_t kMaxStMode = 0xFFFF;

// One FILE_LISTING entry, or nullopt when any field is missing or of the wrong type, or the
// name could not be a single path component.
std::optional<FileEntry> parse_entry(const rapidjson::Value& v) {
  if (!v.IsObject()) return std::nullopt;
  auto name = v.FindMember("name");
  auto size = v.FindMember("size");
  auto mode = v.FindMember("mode");
  auto is_dir = v.FindMember("is_dir");
  auto mtime = v.FindMember("mtime");
  if (name == v.MemberEnd() || !name->value.IsString() || size == v.MemberEnd() ||
      !size->value.IsUint64() || mode == v.MemberEnd() || !mode->value.IsUint() ||
      is_dir == v.MemberEnd() || !is_dir->value.IsBool() || mtime == v.MemberEnd() ||
      !mtime->value.IsInt64()) {
    return std::nullopt;
  }
  FileEntry e;
  e.name.assign(name->value.GetString(), name->value.GetStringLength());
  if (e.name.empty() || e.name.size() > kMaxNameBytes || e.name == "." || e.name == ".." ||
      e.name.find_first_of(std::string_view("/\0", 2)) != std::string::npos) {
    return std::nullopt;
  }
  e.size = size->value.GetUint64();
  e.mode = mode->value.GetUint();
  e.is_dir = is_dir->value.GetBool();
  e.mtime_unix = mtime->value.GetInt64();
  return e;
}

}  // namespace

Error guest_file_error(const std::string& message, int error_number) {
  ErrorCode code = ErrorCode::kGuest;
  if (error_number == ENOENT) {
    code = ErrorCode::kNotFound;
  } else if (error_number == EISDIR || error_number == EINVAL || error_number == ENOTDIR) {
    code = ErrorCode::kInvalidArgument;
  }
  return Error(code, message.empty() ? std::string("the guest failed the file operation")
                                     : message.substr(0, kMaxGuestMessage));
}

// ---- FileHandle -----------------------------------------------------------------------------

void FileHandle::abandon() {
  on_read_ = nullptr;
  on_status_ = nullptr;
  on_list_ = nullptr;
  on_stat_ = nullptr;
  abandoned_ = true;
}

void FileHandle::deliver_bytes(StreamFd, std::string_view bytes, std::function<void()> consumed) {
  // Only a read gets here (accepts_output), and only within credit.
  if (bytes.size() > limit_ - received_) {
    if (auto c = conn_.lock()) {
      c->fail(Error(ErrorCode::kProtocol, "guest file stream: more bytes than the read's limit"));
    }
    return;
  }
  received_ += bytes.size();
  if (!abandoned_) read_.data.append(bytes);
  consumed();  // kept in memory already, and bounded by the limit: no reason to slow the guest
}

void FileHandle::deliver_eof(StreamFd) {}

void FileHandle::deliver_lost(const Error& reason) {
  complete(reason);
}

void FileHandle::complete(const Error& error) {
  auto on_read = std::move(on_read_);
  auto on_status = std::move(on_status_);
  auto on_list = std::move(on_list_);
  auto on_stat = std::move(on_stat_);
  if (on_read) on_read(error);
  if (on_status) on_status(error);
  if (on_list) on_list(error);
  if (on_stat) on_stat(error);
}

bool FileHandle::parse_info(const std::string& payload) {
  json::Document d;
  d.Parse(payload.c_str(), payload.size());
  if (d.HasParseError() || !d.IsObject()) return false;
  auto size = d.FindMember("size");
  auto mode = d.FindMember("mode");
  if (size == d.MemberEnd() || !size->value.IsUint64() || mode == d.MemberEnd() ||
      !mode->value.IsUint()) {
    return false;
  }
  if (op_ == Op::kRead) {
    read_.file_size = size->value.GetUint64();
    read_.mode = mode->value.GetUint();
    // One allocation instead of doubling copies; never more than the read's limit, whatever
    // size the guest claims.
    read_.data.reserve(static_cast<size_t>(std::min<uint64_t>(read_.file_size, limit_)));
    return true;
  }
  auto mtime = d.FindMember("mtime");
  if (mtime == d.MemberEnd() || !mtime->value.IsInt64() || mode->value.GetUint() > kMaxStMode) {
    return false;
  }
  stat_.size = size->value.GetUint64();
  stat_.mode = mode->value.GetUint();
  stat_.mtime_unix = mtime->value.GetInt64();
  return true;
}

// ---- GuestConnection: file streams ------------------------------------------------------------

bool GuestConnection::open_file_stream(const std::shared_ptr<FileHandle>& h,
                                       std::initializer_list<std::string_view> paths,
                                       FrameType type, std::string body) {
  // Only the read direction carries guest output (fd 1); fd 2 never does.
  h->from_guest_[StreamFd::kStderr] = IncomingFlow::unused();
  if (h->op_ != FileHandle::Op::kRead) h->from_guest_[StreamFd::kStdout] = IncomingFlow::unused();
  std::optional<Error> refused;
  if (closed_) {
    refused = Error(ErrorCode::kGuest, "guest channel is closed");
  } else {
    for (std::string_view path : paths) {
      if (absolute_path(path)) continue;
      refused = invalid_argument("guest path \"" + std::string(path.substr(0, 200)) +
                                 "\" is not absolute");
      break;
    }
  }
  if (refused) {
    h->finished_ = true;
    h->complete(*refused);
    return false;
  }
  register_stream(h);
  send(type, h->stream_id(), body);
  return true;
}

std::shared_ptr<FileHandle> GuestConnection::read_file(const std::string& path, uint64_t offset,
                                                       uint64_t limit, FileReadDone done) {
  auto h = std::make_shared<FileHandle>(FileHandle::Op::kRead);
  h->limit_ = limit;
  h->on_read_ = std::move(done);
  json::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("path", json::str(path, a), a);
  d.AddMember("offset", offset, a);
  d.AddMember("limit", limit, a);
  open_file_stream(h, {path}, FrameType::kFileRead, json::to_string(d));
  return h;
}

std::shared_ptr<FileHandle> GuestConnection::write_file(const FileWriteRequest& r, std::string data,
                                                        FileWriteDone done) {
  auto h = std::make_shared<FileHandle>(FileHandle::Op::kWrite);
  h->on_status_ = std::move(done);
  json::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("path", json::str(r.path, a), a);
  d.AddMember("mode", r.mode & 07777, a);
  d.AddMember("offset", r.offset, a);
  d.AddMember("truncate", r.truncate, a);
  d.AddMember("mkdirs", r.mkdirs, a);
  if (open_file_stream(h, {r.path}, FrameType::kFileWrite, json::to_string(d))) {
    h->queue_bytes(std::move(data));
    h->queue_eof();
  }
  return h;
}

std::shared_ptr<FileHandle> GuestConnection::list_files(const std::string& path,
                                                        FileListDone done) {
  auto h = std::make_shared<FileHandle>(FileHandle::Op::kList);
  h->on_list_ = std::move(done);
  json::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("path", json::str(path, a), a);
  open_file_stream(h, {path}, FrameType::kFileList, json::to_string(d));
  return h;
}

// Long because it is one switch over the frames a file stream can receive, each a few checks.
void GuestConnection::on_file_frame(guest_protocol::Frame& f,
                                    const std::shared_ptr<FileHandle>& h) {
  auto protocol_error = [&](const std::string& what) {
    fail(Error(ErrorCode::kProtocol, "guest file stream: " + what));
  };
  switch (f.type) {
    case FrameType::kFileInfo: {
      const bool wants_info = h->op_ == FileHandle::Op::kRead || h->op_ == FileHandle::Op::kStat;
      if (!wants_info || h->info_seen_) return protocol_error("unexpected FILE_INFO");
      if (!h->parse_info(f.payload)) return protocol_error("malformed FILE_INFO");
      h->info_seen_ = true;
      return;
    }
    case FrameType::kFileListing: {
      if (h->op_ != FileHandle::Op::kList) return protocol_error("unexpected FILE_LISTING");
      json::Document d;
      d.Parse(f.payload.c_str(), f.payload.size());
      if (d.HasParseError() || !d.IsObject() || !d.HasMember("files") || !d["files"].IsArray()) {
        return protocol_error("malformed FILE_LISTING");
      }
      for (const auto& v : d["files"].GetArray()) {
        auto entry = parse_entry(v);
        if (!entry) return protocol_error("malformed FILE_LISTING entry");
        h->listing_bytes_ += entry->name.size();
        if (h->entries_.size() >= guest_protocol::kMaxListEntries ||
            h->listing_bytes_ > kMaxListingBytes) {
          return protocol_error("listing larger than " +
                                std::to_string(guest_protocol::kMaxListEntries) + " entries");
        }
        h->entries_.push_back(std::move(*entry));
      }
      return;
    }
    case FrameType::kFileDone: {
      if (h->op_ == FileHandle::Op::kRead && !h->from_guest_[StreamFd::kStdout].ended()) {
        return protocol_error("FILE_DONE before EOF");
      }
      if (h->op_ == FileHandle::Op::kStat && !h->info_seen_) {
        return protocol_error("FILE_DONE before FILE_INFO");
      }
      auto handle = h;  // finish_stream drops the connection's reference
      finish_stream(f.stream);
      switch (handle->op_) {
        case FileHandle::Op::kRead:
          if (auto cb = std::move(handle->on_read_)) cb(std::move(handle->read_));
          return;
        case FileHandle::Op::kWrite:
        case FileHandle::Op::kMkdir:
        case FileHandle::Op::kRemove:
        case FileHandle::Op::kRename:
          if (auto cb = std::move(handle->on_status_)) cb(Status());
          return;
        case FileHandle::Op::kList:
          if (auto cb = std::move(handle->on_list_)) cb(std::move(handle->entries_));
          return;
        case FileHandle::Op::kStat:
          if (auto cb = std::move(handle->on_stat_)) cb(std::optional<FileStat>(handle->stat_));
          return;
      }
      return;
    }
    case FrameType::kError: {
      json::Document d;
      d.Parse(f.payload.c_str(), f.payload.size());
      std::string msg = d.IsObject() ? json::get_string(d, "message") : "";
      int error_number = d.IsObject() ? static_cast<int>(json::get_int(d, "errno", 0)) : 0;
      auto handle = h;
      finish_stream(f.stream);
      // A stat's missing path is an answer, not a failure.
      if (handle->op_ == FileHandle::Op::kStat &&
          (error_number == ENOENT || error_number == ENOTDIR)) {
        if (auto cb = std::move(handle->on_stat_)) cb(std::optional<FileStat>());
        return;
      }
      handle->complete(guest_file_error(msg, error_number));
      return;
    }
    default:
      return protocol_error(std::string("unexpected ") + guest_protocol::frame_type_name(f.type));
  }
}

}  // namespace matchlock::guest_client
