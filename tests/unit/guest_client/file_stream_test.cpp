// Host-side file streams (GuestConnection::read_file / write_file / list_files) against a
// scripted, hostile guest.
#include <cerrno>

#include <catch2/catch.hpp>

#include "core/json.h"
#include "guest_client/fake_guest.h"

using namespace matchlock;
using namespace matchlock::guest_protocol;
using matchlock::testing::FakeGuest;

namespace {

const Frame* find(const std::vector<Frame>& frames, FrameType type) {
  for (const auto& f : frames)
    if (f.type == type) return &f;
  return nullptr;
}

std::string listing(const std::string& entries) {
  return R"({"files":[)" + entries + "]}";
}

std::string entry(const std::string& name, uint64_t size = 1, bool dir = false) {
  return R"({"name":")" + name + R"(","size":)" + std::to_string(size) +
         R"(,"mode":33188,"is_dir":)" + (dir ? "true" : "false") + R"(,"mtime":1700000000})";
}

}  // namespace

TEST_CASE("read_file sends FILE_READ and collects the guest's bytes", "[guest_connection][files]") {
  FakeGuest h;
  h.handshake();
  h.host_sent();
  std::optional<Result<guest_client::FileReadResult>> got;
  h.conn->read_file("/etc/hosts", 5, 100, [&](auto r) { got = std::move(r); });
  auto sent = h.host_sent();
  const Frame* open = find(sent, FrameType::kFileRead);
  REQUIRE(open);
  rapidjson::Document d;
  d.Parse(open->payload.c_str());
  CHECK(json::get_string(d, "path") == "/etc/hosts");
  CHECK(json::get_int(d, "offset") == 5);
  CHECK(json::get_int(d, "limit") == 100);

  uint32_t s = open->stream;
  h.guest_sends(encode_frame(FrameType::kFileInfo, s, R"({"size":12,"mode":33188})"));
  h.guest_sends(encode_frame(FrameType::kData, s, data_payload(kStdout, "abc")));
  h.guest_sends(encode_frame(FrameType::kData, s, data_payload(kStdout, "def")));
  h.guest_sends(encode_frame(FrameType::kEof, s, fd_payload(kStdout)));
  h.guest_sends(encode_frame(FrameType::kFileDone, s, "{}"));
  h.run_until([&] { return got.has_value(); });
  REQUIRE(got);
  REQUIRE(got->ok());
  CHECK((*got)->data == "abcdef");
  CHECK((*got)->file_size == 12);
  CHECK((*got)->mode == 33188);
  CHECK_FALSE(h.lost);
}

TEST_CASE("file stream errors map the guest's errno", "[guest_connection][files]") {
  const std::tuple<int, ErrorCode> cases[] = {{ENOENT, ErrorCode::kNotFound},
                                              {EISDIR, ErrorCode::kInvalidArgument},
                                              {EINVAL, ErrorCode::kInvalidArgument},
                                              {EACCES, ErrorCode::kGuest}};
  for (const auto& [err, code] : cases) {
    FakeGuest h;
    h.handshake();
    h.host_sent();
    std::optional<Status> got;
    h.conn->write_file({.path = "/x"}, "data", [&](Status st) { got = st; });
    auto sent = h.host_sent();
    const Frame* open = find(sent, FrameType::kFileWrite);
    REQUIRE(open);
    std::string msg = "open /x: " + std::string(std::strerror(err));
    h.guest_sends(
        encode_frame(FrameType::kError, open->stream,
                     R"({"message":")" + msg + R"(","errno":)" + std::to_string(err) + "}"));
    h.run_until([&] { return got.has_value(); });
    REQUIRE(got);
    REQUIRE_FALSE(got->ok());
    CHECK(got->error().code == code);
    CHECK(got->error().message == msg);
    CHECK_FALSE(h.lost);
  }
}

TEST_CASE("write_file sends the bytes within credit, then EOF, and waits for FILE_DONE",
          "[guest_connection][files]") {
  FakeGuest h;
  h.handshake();
  h.host_sent();
  std::optional<Status> got;
  std::string data(kInitialCredit + 10'000, 'w');
  h.conn->write_file({.path = "/tmp/f", .mode = 0600, .offset = 3, .truncate = false}, data,
                     [&](Status st) { got = st; });
  auto sent = h.host_sent();
  const Frame* open = find(sent, FrameType::kFileWrite);
  REQUIRE(open);
  rapidjson::Document d;
  d.Parse(open->payload.c_str());
  CHECK(json::get_int(d, "mode") == 0600);
  CHECK(json::get_int(d, "offset") == 3);
  CHECK(d["truncate"].GetBool() == false);
  CHECK(d["mkdirs"].GetBool() == true);
  size_t bytes = 0;
  for (const auto& f : sent) {
    if (f.type == FrameType::kData) bytes += parse_data(f.payload)->bytes.size();
  }
  CHECK(bytes == kInitialCredit);
  CHECK_FALSE(find(sent, FrameType::kEof));
  uint32_t s = open->stream;
  h.guest_sends(encode_frame(FrameType::kCredit, s, credit_payload(kStdin, 10'000)));
  sent = h.host_sent();
  CHECK(find(sent, FrameType::kEof));
  CHECK_FALSE(got);
  h.guest_sends(encode_frame(FrameType::kFileDone, s, "{}"));
  h.run_until([&] { return got.has_value(); });
  REQUIRE(got);
  CHECK(got->ok());
}

TEST_CASE("list_files gathers entries across FILE_LISTING frames", "[guest_connection][files]") {
  FakeGuest h;
  h.handshake();
  h.host_sent();
  std::optional<Result<std::vector<guest_client::FileEntry>>> got;
  h.conn->list_files("/", [&](auto r) { got = std::move(r); });
  const Frame* open = nullptr;
  auto sent = h.host_sent();
  open = find(sent, FrameType::kFileList);
  REQUIRE(open);
  uint32_t s = open->stream;
  h.guest_sends(encode_frame(FrameType::kFileListing, s, listing(entry("a") + "," + entry("b"))));
  h.guest_sends(encode_frame(FrameType::kFileListing, s, listing(entry("sub", 4096, true))));
  h.guest_sends(encode_frame(FrameType::kFileDone, s, "{}"));
  h.run_until([&] { return got.has_value(); });
  REQUIRE(got);
  REQUIRE(got->ok());
  REQUIRE((*got)->size() == 3);
  CHECK((**got)[0].name == "a");
  CHECK((**got)[2].is_dir);
  CHECK((**got)[2].size == 4096);
  CHECK((**got)[2].mtime_unix == 1700000000);
}

TEST_CASE("a hostile guest's file stream frames close the channel", "[guest_connection][files]") {
  struct Case {
    const char* what;
    std::vector<std::pair<FrameType, std::string>> frames;  // after FILE_READ, limit 4
  };
  const Case cases[] = {
      {"more than the limit",
       {{FrameType::kFileInfo, R"({"size":9,"mode":1})"},
        {FrameType::kData, data_payload(kStdout, "12345")}}},
      {"limit reached in two frames",
       {{FrameType::kFileInfo, R"({"size":9,"mode":1})"},
        {FrameType::kData, data_payload(kStdout, "123")},
        {FrameType::kData, data_payload(kStdout, "45")}}},
      {"DATA before FILE_INFO", {{FrameType::kData, data_payload(kStdout, "1")}}},
      {"FILE_INFO twice",
       {{FrameType::kFileInfo, R"({"size":1,"mode":1})"},
        {FrameType::kFileInfo, R"({"size":1,"mode":1})"}}},
      {"malformed FILE_INFO", {{FrameType::kFileInfo, R"({"size":-1,"mode":1})"}}},
      {"FILE_DONE before EOF",
       {{FrameType::kFileInfo, R"({"size":1,"mode":1})"}, {FrameType::kFileDone, "{}"}}},
      {"FILE_LISTING on a read", {{FrameType::kFileListing, listing(entry("a"))}}},
      {"stderr bytes",
       {{FrameType::kFileInfo, R"({"size":1,"mode":1})"},
        {FrameType::kData, data_payload(kStderr, "x")}}},
      {"EXIT on a file stream", {{FrameType::kExit, i32_payload(0)}}},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    FakeGuest h;
    h.handshake();
    h.host_sent();
    std::optional<Result<guest_client::FileReadResult>> got;
    h.conn->read_file("/f", 0, 4, [&](auto r) { got = std::move(r); });
    const Frame* open = nullptr;
    auto sent = h.host_sent();
    open = find(sent, FrameType::kFileRead);
    REQUIRE(open);
    for (const auto& [type, payload] : c.frames) {
      h.guest_sends(encode_frame(type, open->stream, payload));
    }
    h.run_until([&] { return h.lost.has_value(); });
    CHECK(h.lost);
    REQUIRE(got);
    CHECK_FALSE(got->ok());
  }
}

TEST_CASE("a hostile guest's listing is refused", "[guest_connection][files]") {
  const std::string bad[] = {
      listing(entry("a/b")),
      listing(entry("..")),
      listing(entry("")),
      listing(entry(std::string(256, 'n'))),
      listing(R"({"name":"a","size":"1","mode":1,"is_dir":false,"mtime":0})"),
      R"({"files":{}})",
      "not json",
  };
  for (const auto& payload : bad) {
    INFO(payload.substr(0, 80));
    FakeGuest h;
    h.handshake();
    h.host_sent();
    std::optional<Result<std::vector<guest_client::FileEntry>>> got;
    h.conn->list_files("/d", [&](auto r) { got = std::move(r); });
    auto sent = h.host_sent();
    const Frame* open = find(sent, FrameType::kFileList);
    REQUIRE(open);
    h.guest_sends(encode_frame(FrameType::kFileListing, open->stream, payload));
    h.run_until([&] { return h.lost.has_value(); });
    CHECK(h.lost);
    REQUIRE(got);
    CHECK_FALSE(got->ok());
  }
}

TEST_CASE("a listing beyond kMaxListEntries closes the channel", "[guest_connection][files]") {
  FakeGuest h;
  h.handshake();
  h.host_sent();
  std::optional<Result<std::vector<guest_client::FileEntry>>> got;
  h.conn->list_files("/d", [&](auto r) { got = std::move(r); });
  auto sent = h.host_sent();
  const Frame* open = find(sent, FrameType::kFileList);
  REQUIRE(open);
  uint32_t s = open->stream;
  std::string batch;
  for (int i = 0; i < 2000; ++i) batch += (i ? "," : "") + entry("f" + std::to_string(i));
  for (size_t sent_entries = 0; !h.lost && sent_entries <= kMaxListEntries; sent_entries += 2000) {
    h.guest_sends(encode_frame(FrameType::kFileListing, s, listing(batch)));
    h.run_until([&] { return h.lost.has_value(); });
  }
  CHECK(h.lost);
  REQUIRE(got);
  CHECK_FALSE(got->ok());
}

TEST_CASE("file streams refuse relative paths and a closed channel without a frame",
          "[guest_connection][files]") {
  FakeGuest h;
  h.handshake();
  h.host_sent();
  std::optional<Status> got;
  h.conn->write_file({.path = "relative"}, "x", [&](Status st) { got = st; });
  REQUIRE(got);
  CHECK(got->error().code == ErrorCode::kInvalidArgument);
  CHECK(h.host_sent().empty());

  h.conn->close(Error(ErrorCode::kGuest, "gone"));
  std::optional<Result<std::vector<guest_client::FileEntry>>> listed;
  h.conn->list_files("/", [&](auto r) { listed = std::move(r); });
  REQUIRE(listed);
  CHECK_FALSE(listed->ok());
}

TEST_CASE("a lost channel fails file streams in flight", "[guest_connection][files]") {
  FakeGuest h;
  h.handshake();
  h.host_sent();
  std::optional<Result<guest_client::FileReadResult>> got;
  h.conn->read_file("/f", 0, 10, [&](auto r) { got = std::move(r); });
  h.conn->close(Error(ErrorCode::kGuest, "guest channel closed"));
  REQUIRE(got);
  REQUIRE_FALSE(got->ok());
  CHECK(got->error().message == "guest channel closed");
}

TEST_CASE("an abandoned read runs to its end without a callback", "[guest_connection][files]") {
  FakeGuest h;
  h.handshake();
  h.host_sent();
  bool called = false;
  auto handle = h.conn->read_file("/f", 0, 10, [&](auto) { called = true; });
  auto sent = h.host_sent();
  const Frame* open = find(sent, FrameType::kFileRead);
  REQUIRE(open);
  uint32_t s = open->stream;
  handle->abandon();
  h.guest_sends(encode_frame(FrameType::kFileInfo, s, R"({"size":4,"mode":1})"));
  h.guest_sends(encode_frame(FrameType::kData, s, data_payload(kStdout, "abcd")));
  h.guest_sends(encode_frame(FrameType::kEof, s, fd_payload(kStdout)));
  h.guest_sends(encode_frame(FrameType::kFileDone, s, "{}"));
  h.run_until([&] { return handle->finished(); });
  CHECK(handle->finished());
  CHECK_FALSE(called);
  CHECK_FALSE(h.lost);
  auto after = h.host_sent();
  CHECK(find(after, FrameType::kCredit));  // the bytes were consumed
}
