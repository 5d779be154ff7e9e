// The GuestConnection members that open FILE_STAT, FILE_MKDIR, FILE_REMOVE and FILE_RENAME
// streams. Their replies (FILE_INFO, FILE_DONE, ERROR) are checked with every file stream's in
// file_stream.cpp.
#include "core/json.h"
#include "guest_client/guest_connection.h"

namespace matchlock::guest_client {

using guest_protocol::FrameType;

std::shared_ptr<FileHandle> GuestConnection::stat_file(const std::string& path, FileStatDone done) {
  auto h = std::make_shared<FileHandle>(FileHandle::Op::kStat);
  h->on_stat_ = std::move(done);
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("path", json::str(path, a), a);
  open_file_stream(h, {path}, FrameType::kFileStat, json::to_string(d));
  return h;
}

std::shared_ptr<FileHandle> GuestConnection::make_dir(const MakeDirRequest& r, FileOpDone done) {
  auto h = std::make_shared<FileHandle>(FileHandle::Op::kMkdir);
  h->on_status_ = std::move(done);
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("path", json::str(r.path, a), a);
  d.AddMember("mode", r.mode & 07777, a);
  d.AddMember("parents", r.parents, a);
  open_file_stream(h, {r.path}, FrameType::kFileMkdir, json::to_string(d));
  return h;
}

std::shared_ptr<FileHandle> GuestConnection::remove_file(const std::string& path, bool recursive,
                                                         FileOpDone done) {
  auto h = std::make_shared<FileHandle>(FileHandle::Op::kRemove);
  h->on_status_ = std::move(done);
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("path", json::str(path, a), a);
  d.AddMember("recursive", recursive, a);
  open_file_stream(h, {path}, FrameType::kFileRemove, json::to_string(d));
  return h;
}

std::shared_ptr<FileHandle> GuestConnection::rename_file(const std::string& old_path,
                                                         const std::string& new_path,
                                                         FileOpDone done) {
  auto h = std::make_shared<FileHandle>(FileHandle::Op::kRename);
  h->on_status_ = std::move(done);
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("path", json::str(old_path, a), a);
  d.AddMember("new_path", json::str(new_path, a), a);
  open_file_stream(h, {old_path, new_path}, FrameType::kFileRename, json::to_string(d));
  return h;
}

}  // namespace matchlock::guest_client
