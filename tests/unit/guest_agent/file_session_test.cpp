// The agent's file sessions (FILE_READ, FILE_WRITE, FILE_LIST) on a real temporary directory,
// with the host played by the test.
#include "file_session.h"

#include <fcntl.h>
#include <poll.h>
#include <rapidjson/document.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

using namespace matchlock;
using namespace matchlock::guest_protocol;
using matchlock::guest_agent::FileSession;

namespace {

struct Sink : guest_agent::FrameSink {
  std::vector<Frame> frames;
  void send(FrameType type, uint32_t stream, std::string_view payload) override {
    frames.push_back({type, stream, std::string(payload)});
  }
  const Frame* first(FrameType type) const {
    for (const auto& f : frames)
      if (f.type == type) return &f;
    return nullptr;
  }
  std::string data() const {
    std::string out;
    for (const auto& f : frames) {
      if (f.type != FrameType::kData) continue;
      auto d = parse_data(f.payload);
      REQUIRE(d);
      CHECK(d->fd == kStdout);
      out += d->bytes;
    }
    return out;
  }
  uint64_t credit() const {
    uint64_t n = 0;
    for (const auto& f : frames) {
      if (f.type != FrameType::kCredit) continue;
      auto c = parse_credit(f.payload);
      if (c && c->fd == kStdin) n += c->bytes;
    }
    return n;
  }
};

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "ml-files-XXXXXX").string();
    REQUIRE(::mkdtemp(t.data()));
    path = t;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& name, const std::string& contents) const {
    auto p = path / name;
    std::ofstream(p, std::ios::binary) << contents;
    return p.string();
  }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Polls a reading session like the agent's loop, until it finishes or stalls.
void drive(FileSession& s) {
  for (int i = 0; i < 10'000 && !s.finished(); ++i) {
    auto request = s.poll_request(true);
    if (!request) return;
    pollfd p = *request;
    REQUIRE(::poll(&p, 1, 1000) == 1);
    s.on_poll_ready(p.revents);
  }
}

Frame open_frame(FrameType type, const std::string& body) {
  return {type, 7, body};
}

std::string read_request(const std::string& path, uint64_t offset, uint64_t limit) {
  return R"({"path":")" + path + R"(","offset":)" + std::to_string(offset) + R"(,"limit":)" +
         std::to_string(limit) + "}";
}

// The ERROR frame's fields.
std::pair<std::string, int> error_of(const Sink& sink) {
  const Frame* e = sink.first(FrameType::kError);
  REQUIRE(e);
  rapidjson::Document d;
  d.Parse(e->payload.c_str());
  REQUIRE(d.IsObject());
  return {d["message"].GetString(), d["errno"].GetInt()};
}

}  // namespace

TEST_CASE("file session reads a file: FILE_INFO, DATA, EOF, FILE_DONE", "[guest_agent][files]") {
  TempDir dir;
  std::string path = dir.file("a.txt", "hello world");
  ::chmod(path.c_str(), 0640);
  Sink sink;
  FileSession s(open_frame(FrameType::kFileRead, read_request(path, 0, 1 << 20)), sink);
  drive(s);
  REQUIRE(s.finished());
  REQUIRE(sink.frames.size() == 4);
  CHECK(sink.frames[0].type == FrameType::kFileInfo);
  rapidjson::Document info;
  info.Parse(sink.frames[0].payload.c_str());
  CHECK(info["size"].GetUint64() == 11);
  CHECK(info["mode"].GetUint() == (S_IFREG | 0640));
  CHECK(sink.data() == "hello world");
  CHECK(sink.frames[2].type == FrameType::kEof);
  CHECK(sink.frames[3].type == FrameType::kFileDone);
  for (const auto& f : sink.frames) CHECK(f.stream == 7);
}

TEST_CASE("file session reads never more than the limit, from the offset", "[guest_agent][files]") {
  TempDir dir;
  std::string path = dir.file("a", "0123456789");
  Sink sink;
  FileSession s(open_frame(FrameType::kFileRead, read_request(path, 3, 4)), sink);
  drive(s);
  REQUIRE(s.finished());
  CHECK(sink.data() == "3456");
  CHECK(sink.first(FrameType::kFileDone));

  Sink past_end;
  FileSession t(open_frame(FrameType::kFileRead, read_request(path, 50, 4)), past_end);
  drive(t);
  CHECK(t.finished());
  CHECK(past_end.data().empty());
  CHECK(past_end.first(FrameType::kFileDone));
}

TEST_CASE("file session reads stop at the host's credit", "[guest_agent][files]") {
  TempDir dir;
  std::string contents(kInitialCredit + 1000, 'z');
  std::string path = dir.file("big", contents);
  Sink sink;
  FileSession s(open_frame(FrameType::kFileRead, read_request(path, 0, 1 << 30)), sink);
  drive(s);
  CHECK_FALSE(s.finished());
  CHECK(sink.data().size() == kInitialCredit);
  CHECK_FALSE(s.poll_request(true));  // nothing to wait for without credit
  s.on_frame({FrameType::kCredit, 7, credit_payload(kStdout, 4096)});
  drive(s);
  CHECK(s.finished());
  CHECK(sink.data() == contents);
}

TEST_CASE("file session read errors carry errno and the path", "[guest_agent][files]") {
  TempDir dir;
  std::string missing = (dir.path / "nope").string();
  Sink sink;
  FileSession s(open_frame(FrameType::kFileRead, read_request(missing, 0, 10)), sink);
  CHECK(s.finished());
  auto [message, err] = error_of(sink);
  CHECK(err == ENOENT);
  CHECK(message == "open " + missing + ": No such file or directory");

  Sink dir_sink;
  FileSession d(open_frame(FrameType::kFileRead, read_request(dir.path.string(), 0, 10)), dir_sink);
  CHECK(d.finished());
  CHECK(error_of(dir_sink).second == EISDIR);
  CHECK_FALSE(dir_sink.first(FrameType::kFileInfo));

  for (const char* bad : {"not json", "{}", R"({"path":"relative"})", R"({"path":7})"}) {
    Sink bad_sink;
    FileSession b(open_frame(FrameType::kFileRead, bad), bad_sink);
    CHECK(b.finished());
    CHECK(error_of(bad_sink).second == EINVAL);
  }
}

TEST_CASE("file session writes: creates with mode and parents, credits, truncates",
          "[guest_agent][files]") {
  TempDir dir;
  std::string path = (dir.path / "sub/deeper/f.bin").string();
  Sink sink;
  FileSession s(open_frame(FrameType::kFileWrite,
                           R"({"path":")" + path +
                               R"(","mode":384,"offset":0,"truncate":true,"mkdirs":true})"),
                sink);
  REQUIRE_FALSE(s.finished());
  s.on_frame({FrameType::kData, 7, data_payload(kStdin, "hello ")});
  s.on_frame({FrameType::kData, 7, data_payload(kStdin, "world")});
  CHECK(sink.credit() == 11);
  s.on_frame({FrameType::kEof, 7, fd_payload(kStdin)});
  CHECK(s.finished());
  CHECK(sink.first(FrameType::kFileDone));
  CHECK(slurp(path) == "hello world");
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);

  // At an offset without truncate the rest stays; with truncate it goes.
  Sink keep;
  FileSession k(open_frame(FrameType::kFileWrite,
                           R"({"path":")" + path + R"(","offset":6,"truncate":false})"),
                keep);
  k.on_frame({FrameType::kData, 7, data_payload(kStdin, "W")});
  k.on_frame({FrameType::kEof, 7, fd_payload(kStdin)});
  CHECK(slurp(path) == "hello World");
  FileSession t(
      open_frame(FrameType::kFileWrite, R"({"path":")" + path + R"(","offset":2,"truncate":true})"),
      keep);
  t.on_frame({FrameType::kData, 7, data_payload(kStdin, "LP")});
  t.on_frame({FrameType::kEof, 7, fd_payload(kStdin)});
  CHECK(slurp(path) == "heLP");
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);  // an existing file keeps its mode
}

TEST_CASE("file session write errors", "[guest_agent][files]") {
  TempDir dir;
  Sink no_parent;
  std::string orphan = (dir.path / "missing/f").string();
  FileSession s(open_frame(FrameType::kFileWrite, R"({"path":")" + orphan + R"(","mkdirs":false})"),
                no_parent);
  CHECK(s.finished());
  CHECK(error_of(no_parent).second == ENOENT);

  Sink onto_dir;
  FileSession d(open_frame(FrameType::kFileWrite, R"({"path":")" + dir.path.string() + R"("})"),
                onto_dir);
  CHECK(d.finished());
  CHECK(error_of(onto_dir).second == EISDIR);
}

TEST_CASE("file session lists a directory", "[guest_agent][files]") {
  TempDir dir;
  dir.file("one", "1");
  dir.file("two", "22");
  std::filesystem::create_directory(dir.path / "sub");
  Sink sink;
  FileSession s(open_frame(FrameType::kFileList, R"({"path":")" + dir.path.string() + R"("})"),
                sink);
  CHECK(s.finished());
  REQUIRE(sink.frames.size() == 2);
  CHECK(sink.frames[0].type == FrameType::kFileListing);
  CHECK(sink.frames[1].type == FrameType::kFileDone);
  rapidjson::Document d;
  d.Parse(sink.frames[0].payload.c_str());
  REQUIRE(d["files"].IsArray());
  std::map<std::string, std::pair<uint64_t, bool>> seen;
  for (const auto& e : d["files"].GetArray()) {
    seen[e["name"].GetString()] = {e["size"].GetUint64(), e["is_dir"].GetBool()};
    CHECK(e["mtime"].GetInt64() > 0);
  }
  CHECK(seen.size() == 3);
  CHECK(seen["one"] == std::pair<uint64_t, bool>{1, false});
  CHECK(seen["two"] == std::pair<uint64_t, bool>{2, false});
  CHECK(seen["sub"].second);

  Sink not_dir;
  FileSession f(open_frame(FrameType::kFileList, R"({"path":")" + dir.file("x", "") + R"("})"),
                not_dir);
  CHECK(error_of(not_dir).second == ENOTDIR);
}

TEST_CASE("file session splits a large listing across frames", "[guest_agent][files]") {
  TempDir dir;
  std::string long_name(200, 'n');
  for (int i = 0; i < 2000; ++i) dir.file(long_name + std::to_string(i), "");
  Sink sink;
  FileSession s(open_frame(FrameType::kFileList, R"({"path":")" + dir.path.string() + R"("})"),
                sink);
  size_t listings = 0, entries = 0;
  for (const auto& f : sink.frames) {
    if (f.type != FrameType::kFileListing) continue;
    ++listings;
    CHECK(f.payload.size() <= kMaxFramePayload);
    rapidjson::Document d;
    d.Parse(f.payload.c_str());
    entries += d["files"].Size();
  }
  CHECK(listings > 1);
  CHECK(entries == 2000);
  CHECK(sink.frames.back().type == FrameType::kFileDone);
}
