#include "rpc/file_wire.h"

#include <sys/stat.h>

#include <cstdio>
#include <ctime>

#include "rpc/message.h"
#include "vfs/hook_rules.h"

namespace matchlock::rpc {
namespace {

// Go's os.FileMode bits (io/fs).
constexpr uint32_t kGoDir = 1u << 31;
constexpr uint32_t kGoSymlink = 1u << 27;
constexpr uint32_t kGoDevice = 1u << 26;
constexpr uint32_t kGoNamedPipe = 1u << 25;
constexpr uint32_t kGoSocket = 1u << 24;
constexpr uint32_t kGoSetuid = 1u << 23;
constexpr uint32_t kGoSetgid = 1u << 22;
constexpr uint32_t kGoCharDevice = 1u << 21;
constexpr uint32_t kGoSticky = 1u << 20;
constexpr uint32_t kGoIrregular = 1u << 19;

}  // namespace

uint32_t go_file_mode(uint32_t st_mode) {
  uint32_t m = st_mode & 0777;
  if (st_mode & S_ISUID) m |= kGoSetuid;
  if (st_mode & S_ISGID) m |= kGoSetgid;
  if (st_mode & S_ISVTX) m |= kGoSticky;
  switch (st_mode & S_IFMT) {
    case S_IFREG:
      break;
    case S_IFDIR:
      m |= kGoDir;
      break;
    case S_IFLNK:
      m |= kGoSymlink;
      break;
    case S_IFBLK:
      m |= kGoDevice;
      break;
    case S_IFCHR:
      m |= kGoDevice | kGoCharDevice;
      break;
    case S_IFIFO:
      m |= kGoNamedPipe;
      break;
    case S_IFSOCK:
      m |= kGoSocket;
      break;
    default:
      m |= kGoIrregular;
  }
  return m;
}

std::string rfc3339_utc(int64_t unix_seconds) {
  constexpr const char* kZeroTime = "0001-01-01T00:00:00Z";  // Go's zero time
  const time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm {};
  if (gmtime_r(&t, &tm) == nullptr) return kZeroTime;
  // Exactly four digits of year is all RFC 3339 allows (tm_year counts from 1900).
  const long year = static_cast<long>(tm.tm_year) + 1900;
  if (year < 1 || year > 9999) return kZeroTime;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04ld-%02d-%02dT%02d:%02d:%02dZ", year, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

rapidjson::Value file_info_json(const sandbox::GuestFileInfo& info,
                                rapidjson::Document::AllocatorType& a) {
  rapidjson::Value row(rapidjson::kObjectType);
  row.AddMember("name",
                rapidjson::Value(info.name.c_str(), rapidjson::SizeType(info.name.size()), a), a);
  row.AddMember("size", info.size, a);
  row.AddMember("mode", go_file_mode(info.mode), a);
  const std::string when = rfc3339_utc(info.mtime_unix);
  row.AddMember("mod_time", rapidjson::Value(when.c_str(), rapidjson::SizeType(when.size()), a), a);
  row.AddMember("is_dir", info.is_dir, a);
  return row;
}

rapidjson::Value stat_result_json(const std::optional<sandbox::GuestFileInfo>& info,
                                  rapidjson::Document::AllocatorType& a) {
  if (!info) {
    rapidjson::Value missing(rapidjson::kObjectType);
    missing.AddMember("exists", false, a);
    return missing;
  }
  rapidjson::Value result(rapidjson::kObjectType);
  result.AddMember("exists", true, a);
  rapidjson::Value row = file_info_json(*info, a);
  for (auto& m : row.GetObject()) result.AddMember(m.name, m.value, a);
  result.AddMember("is_symlink", S_ISLNK(info->mode), a);
  return result;
}

std::string file_event_line(const vfs::FileOperation& op, int error, int64_t unix_ms) {
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  auto str = [&](const std::string& s) {
    return rapidjson::Value(s.c_str(), rapidjson::SizeType(s.size()), a);
  };
  rapidjson::Value file(rapidjson::kObjectType);
  file.AddMember("op", rapidjson::StringRef(vfs::file_op_name(op.op)), a);
  file.AddMember("path", str(op.path), a);
  if (!op.new_path.empty()) file.AddMember("new_path", str(op.new_path), a);
  // size is the bytes transferred for read/write, 0 otherwise (the protocol's meaning).
  const bool transfer = op.op == vfs::FileOp::kRead || op.op == vfs::FileOp::kWrite;
  file.AddMember("size", transfer ? op.size : 0, a);
  if (op.mode != 0) file.AddMember("mode", op.mode, a);
  if (op.uid != 0) file.AddMember("uid", op.uid, a);
  if (op.gid != 0) file.AddMember("gid", op.gid, a);
  if (error > 0) file.AddMember("error", str(vfs::errno_name(error)), a);
  d.AddMember("type", "file", a);
  d.AddMember("timestamp", unix_ms, a);
  d.AddMember("file", file, a);
  return notification_line("event", d);
}

}  // namespace matchlock::rpc
