#include "dockerbuild/build_progress.h"

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

using namespace matchlock::dockerbuild;

namespace {

// A FILE* writing into memory; text() is everything written so far.
class MemoryFile {
 public:
  MemoryFile() : file_(open_memstream(&buf_, &len_)) { REQUIRE(file_ != nullptr); }
  ~MemoryFile() {
    if (file_) std::fclose(file_);
    std::free(buf_);
  }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

  std::FILE* get() const { return file_; }
  std::string text() const {
    std::fflush(file_);
    return std::string(buf_, len_);
  }
  // The text split at '\n'; the text must end with one.
  std::vector<std::string> lines() const {
    std::string all = text();
    std::vector<std::string> out;
    if (all.empty()) return out;
    CHECK(all.back() == '\n');
    size_t pos = 0;
    for (size_t nl; (nl = all.find('\n', pos)) != std::string::npos; pos = nl + 1) {
      out.push_back(all.substr(pos, nl - pos));
    }
    return out;
  }

 private:
  char* buf_ = nullptr;
  size_t len_ = 0;
  std::FILE* file_;
};

// A plain output line of step `step`: "#N <seconds> <text>"; returns <text>, or nullopt.
std::optional<std::string> plain_text(const std::string& line, int step) {
  static const std::regex kLine(R"(^#(\d+) (\d+\.\d{3}) (.*)$)");
  std::smatch m;
  if (!std::regex_match(line, m, kLine) || std::stoi(m[1].str()) != step) return std::nullopt;
  return m[3].str();
}

}  // namespace

TEST_CASE("progress: plain steps are numbered in order", "[build][progress]") {
  MemoryFile out;
  BuildProgress p(ProgressMode::kPlain, out.get());
  CHECK(p.begin("[1/3] FROM debian:bookworm") == 1);
  p.done();
  CHECK(p.begin("[2/3] RUN apt-get update") == 2);
  p.cached();
  CHECK(p.begin("[3/3] COPY . /src") == 3);
  p.done();
  p.note("naming to docker.io/library/app:latest");
  auto lines = out.lines();
  REQUIRE(lines.size() == 7);
  CHECK(lines[0] == "#1 [1/3] FROM debian:bookworm");
  CHECK(std::regex_match(lines[1], std::regex(R"(#1 DONE \d+\.\ds)")));
  CHECK(lines[2] == "#2 [2/3] RUN apt-get update");
  CHECK(lines[3] == "#2 CACHED");
  CHECK(lines[4] == "#3 [3/3] COPY . /src");
  CHECK(std::regex_match(lines[5], std::regex(R"(#3 DONE \d+\.\ds)")));
  CHECK(lines[6] == "naming to docker.io/library/app:latest");
}

TEST_CASE("progress: output is split into lines whatever the chunks", "[build][progress]") {
  MemoryFile out;
  BuildProgress p(ProgressMode::kPlain, out.get());
  p.begin("RUN make");
  p.output("hel");
  p.output("");
  p.output("lo\nwor");
  p.output("ld\n\nlast ");
  p.output("line\nfirst of two\nsecond of two\n");
  p.done();
  auto lines = out.lines();
  REQUIRE(lines.size() == 8);
  CHECK(lines[0] == "#1 RUN make");
  CHECK(plain_text(lines[1], 1) == "hello");
  CHECK(plain_text(lines[2], 1) == "world");
  CHECK(plain_text(lines[3], 1) == "");  // an empty output line stays a line
  CHECK(plain_text(lines[4], 1) == "last line");
  CHECK(plain_text(lines[5], 1) == "first of two");
  CHECK(plain_text(lines[6], 1) == "second of two");
  CHECK(lines[7].rfind("#1 DONE ", 0) == 0);
}

TEST_CASE("progress: a partial line is flushed before the step ends", "[build][progress]") {
  SECTION("at done()") {
    MemoryFile out;
    BuildProgress p(ProgressMode::kPlain, out.get());
    p.begin("RUN printf tail");
    p.output("no newline at the end");
    CHECK(out.lines().size() == 1);  // held until the line ends
    p.done();
    auto lines = out.lines();
    REQUIRE(lines.size() == 3);
    CHECK(plain_text(lines[1], 1) == "no newline at the end");
    CHECK(lines[2].rfind("#1 DONE ", 0) == 0);
  }
  SECTION("at error()") {
    MemoryFile out;
    BuildProgress p(ProgressMode::kPlain, out.get());
    p.begin("RUN false");
    p.output("oops");
    p.error("process exited with code 1");
    auto lines = out.lines();
    REQUIRE(lines.size() == 3);
    CHECK(plain_text(lines[1], 1) == "oops");
    CHECK(lines[2] == "#1 ERROR: process exited with code 1");
  }
  SECTION("at the next step, under the step it belongs to") {
    MemoryFile out;
    BuildProgress p(ProgressMode::kPlain, out.get());
    p.begin("RUN a");
    p.output("from a");
    p.begin("RUN b");
    p.output("from b\n");
    p.cached();
    auto lines = out.lines();
    REQUIRE(lines.size() == 5);
    CHECK(plain_text(lines[1], 1) == "from a");
    CHECK(lines[2] == "#2 RUN b");
    CHECK(plain_text(lines[3], 2) == "from b");
    CHECK(lines[4] == "#2 CACHED");
  }
}

TEST_CASE("progress: control characters are escaped everywhere", "[build][progress]") {
  MemoryFile out;
  BuildProgress p(ProgressMode::kPlain, out.get());
  p.begin("RUN echo \x1b]0;title\x07");
  p.output("\x1b[31mred\x1b[0m\r\n");
  p.output(std::string_view("nul\0byte\x7f\n", 10));
  p.output("tab\tkept\n");
  p.error("bad \x1b[2J");
  p.note("note \x1b[H");
  auto lines = out.lines();
  REQUIRE(lines.size() == 6);
  CHECK(lines[0] == "#1 RUN echo \\x1b]0;title\\x07");
  CHECK(plain_text(lines[1], 1) == "\\x1b[31mred\\x1b[0m\\x0d");
  CHECK(plain_text(lines[2], 1) == "nul\\x00byte\\x7f");
  CHECK(plain_text(lines[3], 1) == "tab\tkept");
  CHECK(lines[4] == "#1 ERROR: bad \\x1b[2J");
  CHECK(lines[5] == "note \\x1b[H");
  CHECK(out.text().find('\x1b') == std::string::npos);
}

TEST_CASE("progress: tty mode indents output and marks headers", "[build][progress]") {
  MemoryFile out;
  BuildProgress p(ProgressMode::kTty, out.get());
  CHECK(p.begin("[1/1] RUN make") == 1);
  p.output("compiling\x1b[K\n");
  p.error("exit 2");
  auto lines = out.lines();
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == "\x1b[1m#1 [1/1] RUN make\x1b[0m");
  CHECK(lines[1] == "    compiling\\x1b[K");
  CHECK(lines[2] == "\x1b[31m#1 ERROR: exit 2\x1b[0m");
}

TEST_CASE("progress: quiet mode prints nothing", "[build][progress]") {
  MemoryFile out;
  BuildProgress p(ProgressMode::kQuiet, out.get());
  CHECK(p.begin("[1/2] FROM alpine") == 1);
  p.output("some output\nand a partial");
  p.done();
  CHECK(p.begin("[2/2] RUN x") == 2);
  p.output(std::string(10000, 'q'));
  p.cached();
  p.error("failed");
  p.note("naming to x");
  CHECK(out.text().empty());
}

TEST_CASE("progress: a runaway line comes out in bounded pieces", "[build][progress]") {
  MemoryFile out;
  BuildProgress p(ProgressMode::kPlain, out.get());
  p.begin("RUN yes | tr -d '\\n'");
  const std::string big(10 * 1024, 'y');
  // In odd-sized chunks, so pieces do not line up with them.
  for (size_t pos = 0; pos < big.size(); pos += 777)
    p.output(std::string_view(big).substr(pos, 777));
  p.done();
  auto lines = out.lines();
  REQUIRE(lines.size() >= 4);  // header, at least two pieces, DONE
  CHECK(lines.front() == "#1 RUN yes | tr -d '\\n'");
  CHECK(lines.back().rfind("#1 DONE ", 0) == 0);
  std::string joined;
  for (size_t i = 1; i + 1 < lines.size(); ++i) {
    auto text = plain_text(lines[i], 1);
    REQUIRE(text);
    CHECK(!text->empty());
    CHECK(text->size() <= 4096);
    joined += *text;
  }
  CHECK(joined == big);
}

TEST_CASE("progress: a line exactly as long as a piece adds no empty line", "[build][progress]") {
  auto pieces = GENERATE(1, 2);
  MemoryFile out;
  BuildProgress p(ProgressMode::kPlain, out.get());
  p.begin("RUN long");
  // Find the piece size from a line that is surely longer than one piece.
  p.output(std::string(100000, 'a'));
  p.output("\n");
  const size_t before = out.lines().size();
  auto first = plain_text(out.lines()[1], 1);
  REQUIRE(first);
  const size_t piece = first->size();
  REQUIRE(piece > 0);
  REQUIRE(piece < 100000);

  p.output(std::string(piece * static_cast<size_t>(pieces), 'b') + "\nnext\n");
  p.done();
  auto lines = out.lines();
  REQUIRE(lines.size() == before + static_cast<size_t>(pieces) + 2);
  for (int i = 0; i < pieces; ++i) {
    CHECK(plain_text(lines[before + static_cast<size_t>(i)], 1) == std::string(piece, 'b'));
  }
  CHECK(plain_text(lines[before + static_cast<size_t>(pieces)], 1) == "next");
}

TEST_CASE("progress: after a piece, the next step's output starts afresh", "[build][progress]") {
  MemoryFile out;
  BuildProgress p(ProgressMode::kPlain, out.get());
  p.begin("RUN long");
  p.output(std::string(100000, 'a') + "\n");
  auto first = plain_text(out.lines()[1], 1);
  REQUIRE(first);
  const size_t piece = first->size();

  p.output(std::string(piece, 'c'));  // comes out whole, with no newline yet
  const size_t before = out.lines().size();
  p.begin("RUN next");
  p.output("\nx\n");
  auto lines = out.lines();
  REQUIRE(lines.size() == before + 3);
  CHECK(lines[before] == "#2 RUN next");
  CHECK(plain_text(lines[before + 1], 2) == "");
  CHECK(plain_text(lines[before + 2], 2) == "x");
}
