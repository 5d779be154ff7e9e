// Pull progress on stderr: one live bar per blob when stderr is a terminal, plain lines when it
// is not (logs, CI), nothing with --quiet. Also the pull-if-needed step `run` shares with `pull`.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "core/result.h"
#include "image/image_store.h"

namespace matchlock::cli {

class PullProgressRenderer {
 public:
  PullProgressRenderer(std::FILE* out, bool tty) : out_(out), tty_(tty) {}
  void on(const image::PullProgress& p);

 private:
  struct Row {
    std::string id;
    std::string state;
    int64_t done = 0, total = 0;
  };
  void redraw(bool force);
  std::string render(const Row& r) const;

  std::FILE* out_;
  bool tty_;
  std::vector<Row> rows_;
  size_t drawn_ = 0;  // rows currently on screen (to move the cursor back over)
  std::chrono::steady_clock::time_point last_draw_{};
};

// Pulls `reference` with progress on stderr (unless quiet); returns the store's report.
Result<image::PullReport> pull_with_progress(image::ImageStore& store, const std::string& reference,
                                             image::PullOptions options, bool quiet);

}  // namespace matchlock::cli
