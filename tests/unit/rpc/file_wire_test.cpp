// Go FileMode numbers, RFC 3339 times and file event lines (docs/rpc.md).
#include "rpc/file_wire.h"

#include <sys/stat.h>

#include <cstdint>
#include <optional>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <catch2/catch.hpp>

using namespace matchlock;
using namespace matchlock::rpc;

TEST_CASE("go_file_mode_matches_os_FileMode", "[rpc][files]") {
  CHECK(go_file_mode(S_IFREG | 0644) == 420);
  CHECK(go_file_mode(S_IFDIR | 0755) == 2147484141u);  // the reference's example
  CHECK(go_file_mode(S_IFLNK | 0777) == ((1u << 27) | 0777));
  CHECK(go_file_mode(S_IFCHR | 0666) == ((1u << 26) | (1u << 21) | 0666));
  CHECK(go_file_mode(S_IFBLK | 0660) == ((1u << 26) | 0660));
  CHECK(go_file_mode(S_IFIFO | 0600) == ((1u << 25) | 0600));
  CHECK(go_file_mode(S_IFSOCK | 0755) == ((1u << 24) | 0755));
  CHECK(go_file_mode(S_IFREG | S_ISUID | 0755) == ((1u << 23) | 0755));
  CHECK(go_file_mode(S_IFDIR | S_ISVTX | 0777) == ((1u << 31) | (1u << 20) | 0777));
}

TEST_CASE("rfc3339_utc_times", "[rpc][files]") {
  CHECK(rfc3339_utc(0) == "1970-01-01T00:00:00Z");
  CHECK(rfc3339_utc(1718000000) == "2024-06-10T06:13:20Z");
}

TEST_CASE("rfc3339_utc_keeps_four_digit_years_for_garbage_times", "[rpc][files]") {
  CHECK(rfc3339_utc(253402300799) == "9999-12-31T23:59:59Z");
  CHECK(rfc3339_utc(253402300800) == "0001-01-01T00:00:00Z");  // year 10000
  CHECK(rfc3339_utc(-62135596800) == "0001-01-01T00:00:00Z");  // year 1
  CHECK(rfc3339_utc(-62135596801) == "0001-01-01T00:00:00Z");  // year 0
  CHECK(rfc3339_utc(-86400) == "1969-12-31T00:00:00Z");
  CHECK(rfc3339_utc(INT64_MAX) == "0001-01-01T00:00:00Z");
  CHECK(rfc3339_utc(INT64_MIN) == "0001-01-01T00:00:00Z");
}

namespace {
std::string stat_json(const std::optional<sandbox::GuestFileInfo>& info) {
  rapidjson::Document d(rapidjson::kObjectType);
  auto v = stat_result_json(info, d.GetAllocator());
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return sb.GetString();
}
}  // namespace

TEST_CASE("stat_results", "[rpc][files]") {
  CHECK(stat_json(std::nullopt) == R"({"exists":false})");
  CHECK(
      stat_json(sandbox::GuestFileInfo{"a.txt", 5, S_IFREG | 0640, false, 1718000000}) ==
      R"({"exists":true,"name":"a.txt","size":5,"mode":416,"mod_time":"2024-06-10T06:13:20Z","is_dir":false,"is_symlink":false})");
  CHECK(
      stat_json(sandbox::GuestFileInfo{"l", 3, S_IFLNK | 0777, false, 0}) ==
      R"({"exists":true,"name":"l","size":3,"mode":134218239,"mod_time":"1970-01-01T00:00:00Z","is_dir":false,"is_symlink":true})");
  // A guest's garbage mode still becomes a Go FileMode (irregular), never a crash.
  CHECK(stat_json(sandbox::GuestFileInfo{"g", 0, 0xF1FF, false, 0}).find(R"("mode":524799)") !=
        std::string::npos);
}

TEST_CASE("file_info_rows", "[rpc][files]") {
  rapidjson::Document d(rapidjson::kObjectType);
  sandbox::GuestFileInfo info{"src", 4096, S_IFDIR | 0755, true, 0};
  auto row = file_info_json(info, d.GetAllocator());
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  row.Accept(w);
  CHECK(
      std::string(sb.GetString()) ==
      R"({"name":"src","size":4096,"mode":2147484141,"mod_time":"1970-01-01T00:00:00Z","is_dir":true})");
}

TEST_CASE("file_event_lines", "[rpc][files]") {
  vfs::FileOperation op;
  op.op = vfs::FileOp::kWrite;
  op.path = "/workspace/a.txt";
  op.size = 5;
  op.mode = 420;
  op.uid = 1000;
  op.gid = 1000;
  CHECK(
      file_event_line(op, 0, 1718000000123) ==
      R"({"jsonrpc":"2.0","method":"event","params":{"type":"file","timestamp":1718000000123,"file":{"op":"write","path":"/workspace/a.txt","size":5,"mode":420,"uid":1000,"gid":1000}}})"
      "\n");
  vfs::FileOperation mk;
  mk.op = vfs::FileOp::kMkdir;
  mk.path = "/workspace/d";
  mk.size = 9;  // not a transfer: reported as 0
  CHECK(
      file_event_line(mk, EPERM, 1) ==
      R"({"jsonrpc":"2.0","method":"event","params":{"type":"file","timestamp":1,"file":{"op":"mkdir","path":"/workspace/d","size":0,"error":"EPERM"}}})"
      "\n");
}
