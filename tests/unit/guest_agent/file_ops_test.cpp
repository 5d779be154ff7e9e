// The agent's FILE_STAT, FILE_MKDIR, FILE_REMOVE and FILE_RENAME sessions on a real temporary
// directory, with the host (and its garbage) played by the test.
#include <fcntl.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "file_ops.h"
#include "file_session.h"

using namespace matchlock;
using namespace matchlock::guest_protocol;
using matchlock::guest_agent::FileSession;
namespace fs = std::filesystem;

namespace {

struct Sink : guest_agent::FrameSink {
  std::vector<Frame> frames;
  void send(FrameType type, uint32_t stream, std::string_view payload) override {
    frames.push_back({type, stream, std::string(payload)});
  }
};

struct TempDir {
  fs::path path;
  TempDir() {
    std::string t = (fs::temp_directory_path() / "ml-fileops-XXXXXX").string();
    REQUIRE(::mkdtemp(t.data()));
    path = t;
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

void touch(const std::string& path, const std::string& contents = "x") {
  std::ofstream(path, std::ios::binary) << contents;
}

std::string json_string(const std::string& s) {
  rapidjson::Document d;
  rapidjson::Value v(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), d.GetAllocator());
  rapidjson::StringBuffer b;
  rapidjson::Writer<rapidjson::StringBuffer> w(b);
  v.Accept(w);
  return b.GetString();
}

// Runs one session to its end; it must finish at once.
Sink run(FrameType type, const std::string& body) {
  Sink sink;
  FileSession s(Frame{type, 9, body}, sink);
  CHECK(s.finished());
  return sink;
}

bool done(const Sink& sink) {
  return sink.frames.size() == 1 && sink.frames[0].type == FrameType::kFileDone &&
         sink.frames[0].payload == "{}";
}

// The ERROR's message and errno.
std::pair<std::string, int> error_of(const Sink& sink) {
  REQUIRE(sink.frames.size() == 1);
  REQUIRE(sink.frames[0].type == FrameType::kError);
  rapidjson::Document d;
  d.Parse(sink.frames[0].payload.c_str());
  REQUIRE(d.IsObject());
  return {d["message"].GetString(), d["errno"].GetInt()};
}

Sink mkdir_op(const std::string& path, unsigned mode, bool parents) {
  return run(FrameType::kFileMkdir, R"({"path":)" + json_string(path) + R"(,"mode":)" +
                                        std::to_string(mode) + R"(,"parents":)" +
                                        (parents ? "true" : "false") + "}");
}

Sink remove_op(const std::string& path, bool recursive) {
  return run(FrameType::kFileRemove, R"({"path":)" + json_string(path) + R"(,"recursive":)" +
                                         (recursive ? "true" : "false") + "}");
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace

TEST_CASE("FILE_STAT lstats: FILE_INFO with mtime, then FILE_DONE", "[guest_agent][files]") {
  TempDir dir;
  touch(dir / "f", "12345");
  ::chmod((dir / "f").c_str(), 0640);
  REQUIRE(::symlink("f", (dir / "link").c_str()) == 0);
  for (const auto& [name, type, size] : std::vector<std::tuple<std::string, mode_t, uint64_t>>{
           {"f", S_IFREG, 5}, {"link", S_IFLNK, 1}}) {
    auto sink = run(FrameType::kFileStat, R"({"path":)" + json_string(dir / name) + "}");
    REQUIRE(sink.frames.size() == 2);
    CHECK(sink.frames[0].type == FrameType::kFileInfo);
    CHECK(sink.frames[1].type == FrameType::kFileDone);
    rapidjson::Document info;
    info.Parse(sink.frames[0].payload.c_str());
    CHECK((info["mode"].GetUint() & S_IFMT) == type);
    CHECK(info["size"].GetUint64() == size);
    CHECK(info["mtime"].GetInt64() > 1'600'000'000);
  }
  auto missing = run(FrameType::kFileStat, R"({"path":)" + json_string(dir / "nope") + "}");
  CHECK(error_of(missing).second == ENOENT);
  auto below_file = run(FrameType::kFileStat, R"({"path":)" + json_string(dir / "f/x") + "}");
  CHECK(error_of(below_file).second == ENOTDIR);
}

TEST_CASE("FILE_MKDIR sets the exact mode and creates parents", "[guest_agent][files]") {
  TempDir dir;
  const mode_t old_umask = ::umask(077);  // must not narrow the mode asked for
  CHECK(done(mkdir_op(dir / "open", 0777, false)));
  CHECK((mode_of(dir / "open") & 07777) == 0777);
  CHECK(done(mkdir_op(dir / "a/b/c/", 0700, true)));
  CHECK(mode_of(dir / "a/b/c") == (S_IFDIR | 0700));
  ::umask(old_umask);
  // parents: an existing directory (or a symlink to one) is success and keeps its mode.
  CHECK(done(mkdir_op(dir / "a/b/c", 0755, true)));
  CHECK((mode_of(dir / "a/b/c") & 07777) == 0700);
  REQUIRE(::symlink("a", (dir / "to-a").c_str()) == 0);
  CHECK(done(mkdir_op(dir / "to-a", 0755, true)));

  auto [exists_msg, exists_errno] = error_of(mkdir_op(dir / "a", 0755, false));
  CHECK(exists_errno == EEXIST);
  CHECK(exists_msg == "mkdir " + (dir / "a") + ": " + std::strerror(EEXIST));
  CHECK(error_of(mkdir_op(dir / "x/y", 0755, false)).second == ENOENT);
  CHECK_FALSE(exists(dir / "x"));
  touch(dir / "file");
  CHECK(error_of(mkdir_op(dir / "file", 0755, true)).second == EEXIST);
  CHECK(error_of(mkdir_op(dir / "file/sub", 0755, true)).second != 0);
}

TEST_CASE("FILE_REMOVE removes a file, a symlink, an empty directory, nothing else",
          "[guest_agent][files]") {
  TempDir dir;
  touch(dir / "target");
  REQUIRE(::symlink("target", (dir / "link").c_str()) == 0);
  REQUIRE(::mkdir((dir / "empty").c_str(), 0755) == 0);
  REQUIRE(::mkdir((dir / "full").c_str(), 0755) == 0);
  touch(dir / "full/x");
  CHECK(done(remove_op(dir / "link", false)));
  CHECK(exists(dir / "target"));
  CHECK(done(remove_op(dir / "target", false)));
  CHECK(done(remove_op(dir / "empty/", false)));
  CHECK(error_of(remove_op(dir / "full", false)).second == ENOTEMPTY);
  auto [msg, err] = error_of(remove_op(dir / "gone", false));
  CHECK(err == ENOENT);
  CHECK(msg == "remove " + (dir / "gone") + ": " + std::strerror(ENOENT));
  CHECK(error_of(remove_op("/", true)).second == EBUSY);
  CHECK(error_of(remove_op(dir / "full/..", true)).second == EINVAL);
  CHECK(exists(dir / "full/x"));
}

TEST_CASE("recursive FILE_REMOVE never follows a symlink out of the tree", "[guest_agent][files]") {
  TempDir dir;
  fs::create_directories(dir / "outside/keep");
  touch(dir / "outside/keep/file", "precious");
  fs::create_directories(dir / "tree/a/b/c");
  fs::create_directories(dir / "tree/empty");
  for (int i = 0; i < 300; ++i) touch(dir / ("tree/a/f" + std::to_string(i)));
  touch(dir / "tree/a/b/c/deep");
  REQUIRE(::symlink((dir / "outside").c_str(), (dir / "tree/a/b/to-outside").c_str()) == 0);
  REQUIRE(::symlink((dir / "outside/keep/file").c_str(), (dir / "tree/file-link").c_str()) == 0);
  REQUIRE(::mkfifo((dir / "tree/fifo").c_str(), 0600) == 0);
  // "/tree/" with a trailing slash names the directory itself.
  CHECK(done(remove_op(dir / "tree/", true)));
  CHECK_FALSE(exists(dir / "tree"));
  CHECK(exists(dir / "outside/keep/file"));

  // The top itself a symlink to a directory: the link goes, the directory stays.
  REQUIRE(::symlink((dir / "outside").c_str(), (dir / "top-link").c_str()) == 0);
  CHECK(done(remove_op(dir / "top-link/", true)));
  CHECK_FALSE(exists(dir / "top-link"));
  CHECK(exists(dir / "outside/keep/file"));
}

TEST_CASE("recursive FILE_REMOVE stops at kMaxRemoveDepth nested directories",
          "[guest_agent][files]") {
  TempDir dir;
  std::string deep = dir / "d";
  std::string path = deep;
  REQUIRE(::mkdir(path.c_str(), 0755) == 0);
  int parent = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(parent >= 0);
  // Relative creation: the whole path would pass PATH_MAX.
  for (size_t i = 0; i < kMaxRemoveDepth + 1; ++i) {
    REQUIRE(::mkdirat(parent, "n", 0755) == 0);
    int child = ::openat(parent, "n", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ::close(parent);
    REQUIRE(child >= 0);
    parent = child;
  }
  ::close(parent);
  auto [msg, err] = error_of(remove_op(deep, true));
  CHECK(err == EMFILE);
  CHECK(msg.find("more than " + std::to_string(kMaxRemoveDepth) + " nested directories") !=
        std::string::npos);
  CHECK(exists(deep));
  CHECK(exists(deep + "/n/n"));
}

TEST_CASE("FILE_RENAME is rename(2): it replaces an existing file", "[guest_agent][files]") {
  TempDir dir;
  touch(dir / "new", "new contents");
  touch(dir / "old", "old");
  auto sink = run(FrameType::kFileRename, R"({"path":)" + json_string(dir / "new") +
                                              R"(,"new_path":)" + json_string(dir / "old") + "}");
  CHECK(done(sink));
  std::ifstream in(dir / "old");
  CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == "new contents");
  CHECK_FALSE(exists(dir / "new"));
  auto [msg, err] =
      error_of(run(FrameType::kFileRename, R"({"path":)" + json_string(dir / "missing") +
                                               R"(,"new_path":)" + json_string(dir / "x") + "}"));
  CHECK(err == ENOENT);
  CHECK(msg == "rename " + (dir / "missing") + " to " + (dir / "x") + ": " + std::strerror(ENOENT));
}

TEST_CASE("the new file sessions refuse garbage requests with EINVAL", "[guest_agent][files]") {
  const std::vector<std::pair<FrameType, std::string>> cases = {
      {FrameType::kFileStat, "not json"},
      {FrameType::kFileStat, "[]"},
      {FrameType::kFileStat, R"({"path":"relative"})"},
      {FrameType::kFileStat, R"({"path":7})"},
      {FrameType::kFileMkdir, R"({})"},
      {FrameType::kFileMkdir, R"({"path":"/a\u0000b"})"},
      {FrameType::kFileRemove, R"({"path":""})"},
      {FrameType::kFileRemove, R"({"path":")" + std::string(5000, 'a') + R"("})"},
      {FrameType::kFileRename, R"({"path":"/a"})"},
      {FrameType::kFileRename, R"({"path":"/a","new_path":"b"})"},
      {FrameType::kFileRename, R"({"path":"a","new_path":"/b"})"},
  };
  for (const auto& [type, body] : cases) {
    INFO(frame_type_name(type) << " " << body.substr(0, 60));
    CHECK(error_of(run(type, body)).second == EINVAL);
  }
}
