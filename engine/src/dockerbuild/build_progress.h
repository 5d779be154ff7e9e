// What a build prints while it runs, on stderr, like `docker build`: one numbered entry per
// step ("#3 [stage 2/5] RUN make"), the step's output lines under its number, and how it
// ended (DONE 1.2s, CACHED, ERROR). `plain` prefixes every line with the step number and the
// seconds since the step began (for logs and CI); `tty` is for a person at a terminal: bold
// step headers and the output indented beneath them.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

namespace matchlock::dockerbuild {

enum class ProgressMode { kPlain, kTty, kQuiet };

class BuildProgress {
 public:
  BuildProgress(ProgressMode mode, std::FILE* out) : mode_(mode), out_(out) {}

  // Starts step `title` ("[builder 2/4] RUN make"); returns its number.
  int begin(const std::string& title);
  // Output of the current step, any chunking; split into lines here.
  void output(std::string_view bytes);
  void cached();
  void done();
  void error(const std::string& message);
  // A line that belongs to no step ("naming to docker.io/x:latest").
  void note(const std::string& line);

 private:
  void flush_partial_line();
  double seconds() const;

  ProgressMode mode_;
  std::FILE* out_;
  int step_ = 0;
  std::string partial_;  // an output line not yet ended by '\n'
  bool split_ = false;   // the last output came out as a full piece of a longer line
  std::chrono::steady_clock::time_point started_;
};

}  // namespace matchlock::dockerbuild
