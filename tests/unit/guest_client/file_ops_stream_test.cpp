// Host-side FILE_STAT / FILE_MKDIR / FILE_REMOVE / FILE_RENAME streams against a scripted,
// hostile guest: the requests they encode and every reply they refuse.
#include <cerrno>

#include <catch2/catch.hpp>

#include "core/json.h"
#include "guest_client/fake_guest.h"

using namespace matchlock;
using namespace matchlock::guest_protocol;
using matchlock::testing::FakeGuest;

namespace {

using StatResult = Result<std::optional<guest_client::FileStat>>;

const Frame* find(const std::vector<Frame>& frames, FrameType type) {
  for (const auto& f : frames)
    if (f.type == type) return &f;
  return nullptr;
}

// A stat_file whose FILE_STAT the test answers.
struct StatRig {
  FakeGuest h;
  std::optional<StatResult> got;
  uint32_t stream = 0;
  rapidjson::Document request;

  explicit StatRig(const std::string& path = "/etc/passwd") {
    h.handshake();
    h.host_sent();
    h.conn->stat_file(path, [this](StatResult r) { got = std::move(r); });
    auto sent = h.host_sent();
    const Frame* open = find(sent, FrameType::kFileStat);
    REQUIRE(open);
    stream = open->stream;
    request.Parse(open->payload.c_str());
  }
  void guest_sends(FrameType type, const std::string& payload) {
    h.guest_sends(encode_frame(type, stream, payload));
  }
  void settle() {
    h.run_until([&] { return got.has_value(); });
  }
};

std::string error_body(int error) {
  return R"({"message":"stat /x: )" + std::string(std::strerror(error)) + R"(","errno":)" +
         std::to_string(error) + "}";
}

}  // namespace

TEST_CASE("stat_file sends FILE_STAT and returns the guest's FILE_INFO",
          "[guest_connection][files]") {
  StatRig rig("/etc/passwd");
  CHECK(json::get_string(rig.request, "path") == "/etc/passwd");
  rig.guest_sends(FrameType::kFileInfo, R"({"size":12,"mode":41471,"mtime":1700000000})");
  rig.guest_sends(FrameType::kFileDone, "{}");
  rig.settle();
  REQUIRE(rig.got);
  REQUIRE(rig.got->ok());
  REQUIRE(rig.got->value().has_value());
  const auto& st = *rig.got->value();
  CHECK(st.size == 12);
  CHECK(st.mode == 41471);  // S_IFLNK | 0777
  CHECK(st.mtime_unix == 1700000000);
  CHECK_FALSE(rig.h.lost);
}

TEST_CASE("stat_file answers ENOENT and ENOTDIR as a missing path, other errors as errors",
          "[guest_connection][files]") {
  for (int error : {ENOENT, ENOTDIR}) {
    StatRig rig;
    rig.guest_sends(FrameType::kError, error_body(error));
    rig.settle();
    REQUIRE(rig.got);
    REQUIRE(rig.got->ok());
    CHECK_FALSE(rig.got->value().has_value());
    CHECK_FALSE(rig.h.lost);
  }
  for (int error : {EACCES, ELOOP, 0}) {
    StatRig rig;
    rig.guest_sends(FrameType::kError, error_body(error));
    rig.settle();
    REQUIRE(rig.got);
    REQUIRE_FALSE(rig.got->ok());
    CHECK(rig.got->error().message.find("stat /x") == 0);
    CHECK_FALSE(rig.h.lost);
  }
}

TEST_CASE("a hostile guest's stat replies close the channel", "[guest_connection][files]") {
  const std::vector<std::vector<std::pair<FrameType, std::string>>> cases = {
      {{FrameType::kFileDone, "{}"}},  // FILE_DONE before FILE_INFO
      {{FrameType::kFileInfo, "not json"}},
      {{FrameType::kFileInfo, "[]"}},
      {{FrameType::kFileInfo, R"({"size":1,"mode":1})"}},  // no mtime
      {{FrameType::kFileInfo, R"({"size":-1,"mode":1,"mtime":0})"}},
      {{FrameType::kFileInfo, R"({"size":1,"mode":"1","mtime":0})"}},
      {{FrameType::kFileInfo, R"({"size":1,"mode":65536,"mtime":0})"}},  // beyond st_mode
      {{FrameType::kFileInfo, R"({"size":1,"mode":1,"mtime":1.5})"}},
      {{FrameType::kFileInfo, R"({"size":1,"mode":1,"mtime":18446744073709551615})"}},
      {{FrameType::kFileInfo, R"({"size":1,"mode":1,"mtime":0})"},
       {FrameType::kFileInfo, R"({"size":1,"mode":1,"mtime":0})"}},
      {{FrameType::kFileListing, R"({"files":[]})"}},
      {{FrameType::kData, data_payload(kStdout, "x")}},
      {{FrameType::kEof, fd_payload(kStdout)}},
      {{FrameType::kExit, i32_payload(0)}},
  };
  for (const auto& frames : cases) {
    INFO(frame_type_name(frames.front().first) << " " << frames.front().second);
    StatRig rig;
    for (const auto& [type, payload] : frames) rig.guest_sends(type, payload);
    rig.h.run_until([&] { return rig.h.lost.has_value(); });
    CHECK(rig.h.lost);
    REQUIRE(rig.got);
    CHECK_FALSE(rig.got->ok());
  }
}

TEST_CASE("make_dir, remove_file and rename_file encode their requests and finish on FILE_DONE",
          "[guest_connection][files]") {
  FakeGuest h;
  h.handshake();
  h.host_sent();
  std::vector<Status> done;
  auto record = [&](Status st) { done.push_back(st); };
  h.conn->make_dir({.path = "/a/b", .mode = 0100750, .parents = false}, record);
  h.conn->remove_file("/a", true, record);
  h.conn->rename_file("/x", "/y", record);
  auto sent = h.host_sent();
  const Frame* mkdir = find(sent, FrameType::kFileMkdir);
  const Frame* remove = find(sent, FrameType::kFileRemove);
  const Frame* rename = find(sent, FrameType::kFileRename);
  REQUIRE(mkdir);
  REQUIRE(remove);
  REQUIRE(rename);
  rapidjson::Document d;
  d.Parse(mkdir->payload.c_str());
  CHECK(json::get_string(d, "path") == "/a/b");
  CHECK(json::get_int(d, "mode") == 0750);  // permission bits only
  CHECK(d["parents"].GetBool() == false);
  d.Parse(remove->payload.c_str());
  CHECK(json::get_string(d, "path") == "/a");
  CHECK(d["recursive"].GetBool() == true);
  d.Parse(rename->payload.c_str());
  CHECK(json::get_string(d, "path") == "/x");
  CHECK(json::get_string(d, "new_path") == "/y");

  h.guest_sends(encode_frame(FrameType::kFileDone, mkdir->stream, "{}"));
  h.guest_sends(encode_frame(FrameType::kError, remove->stream,
                             R"({"message":"remove /a: Directory not empty","errno":39})"));
  h.guest_sends(encode_frame(FrameType::kFileDone, rename->stream, "{}"));
  h.run_until([&] { return done.size() == 3; });
  REQUIRE(done.size() == 3);
  CHECK(done[0].ok());
  REQUIRE_FALSE(done[1].ok());
  CHECK(done[1].error().code == ErrorCode::kGuest);
  CHECK(done[1].error().message == "remove /a: Directory not empty");
  CHECK(done[2].ok());
  CHECK_FALSE(h.lost);
}

TEST_CASE("a hostile guest's FILE_INFO or DATA on a mkdir closes the channel",
          "[guest_connection][files]") {
  for (const auto& [type, payload] : std::vector<std::pair<FrameType, std::string>>{
           {FrameType::kFileInfo, R"({"size":1,"mode":1,"mtime":0})"},
           {FrameType::kData, data_payload(kStdout, "x")},
           {FrameType::kFileListing, R"({"files":[]})"}}) {
    FakeGuest h;
    h.handshake();
    h.host_sent();
    std::optional<Status> got;
    h.conn->make_dir({.path = "/d"}, [&](Status st) { got = st; });
    const Frame* open = nullptr;
    auto sent = h.host_sent();
    open = find(sent, FrameType::kFileMkdir);
    REQUIRE(open);
    h.guest_sends(encode_frame(type, open->stream, payload));
    h.run_until([&] { return h.lost.has_value(); });
    CHECK(h.lost);
    REQUIRE(got);
    CHECK_FALSE(got->ok());
  }
}

TEST_CASE("rename_file refuses a relative path on either side without a frame",
          "[guest_connection][files]") {
  FakeGuest h;
  h.handshake();
  h.host_sent();
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"/ok", "relative"}, {"relative", "/ok"}, {"/ok", std::string("/a\0b", 4)}}) {
    std::optional<Status> got;
    h.conn->rename_file(from, to, [&](Status st) { got = st; });
    REQUIRE(got);
    CHECK(got->error().code == ErrorCode::kInvalidArgument);
  }
  std::optional<StatResult> stat;
  h.conn->stat_file("", [&](StatResult r) { stat = std::move(r); });
  REQUIRE(stat);
  CHECK_FALSE(stat->ok());
  CHECK(h.host_sent().empty());
}
