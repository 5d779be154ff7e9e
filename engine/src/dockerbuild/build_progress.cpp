#include "dockerbuild/build_progress.h"

#include <utility>

#include "core/printable.h"

namespace matchlock::dockerbuild {
namespace {

constexpr const char* kBold = "\033[1m";
constexpr const char* kRed = "\033[31m";
constexpr const char* kReset = "\033[0m";
// The longest piece of an output line shown at once.
constexpr size_t kMaxPiece = 4096;

}  // namespace

double BuildProgress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
}

int BuildProgress::begin(const std::string& title) {
  flush_partial_line();
  ++step_;
  started_ = std::chrono::steady_clock::now();
  if (mode_ == ProgressMode::kPlain) {
    std::fprintf(out_, "#%d %s\n", step_, printable(title).c_str());
  } else if (mode_ == ProgressMode::kTty) {
    std::fprintf(out_, "%s#%d %s%s\n", kBold, step_, printable(title).c_str(), kReset);
  }
  std::fflush(out_);
  return step_;
}

void BuildProgress::output(std::string_view bytes) {
  if (mode_ == ProgressMode::kQuiet) return;
  for (char c : bytes) {
    if (c != '\n') {
      // A runaway line without newlines is shown in pieces rather than held without bound.
      partial_.push_back(c);
      split_ = false;
      if (partial_.size() < kMaxPiece) continue;
      split_ = true;
    } else if (std::exchange(split_, false) && partial_.empty()) {
      continue;  // the newline ending a line that just came out as its last full piece
    }
    std::string line = printable(partial_);
    partial_.clear();
    if (mode_ == ProgressMode::kPlain) {
      std::fprintf(out_, "#%d %.3f %s\n", step_, seconds(), line.c_str());
    } else {
      std::fprintf(out_, "    %s\n", line.c_str());
    }
  }
  std::fflush(out_);
}

void BuildProgress::flush_partial_line() {
  if (!partial_.empty()) output("\n");
  split_ = false;  // a newline after this begins a line of its own
}

void BuildProgress::cached() {
  flush_partial_line();
  if (mode_ == ProgressMode::kQuiet) return;
  std::fprintf(out_, "#%d CACHED\n", step_);
  std::fflush(out_);
}

void BuildProgress::done() {
  flush_partial_line();
  if (mode_ == ProgressMode::kQuiet) return;
  std::fprintf(out_, "#%d DONE %.1fs\n", step_, seconds());
  std::fflush(out_);
}

void BuildProgress::error(const std::string& message) {
  flush_partial_line();
  if (mode_ == ProgressMode::kQuiet) return;
  if (mode_ == ProgressMode::kTty) {
    std::fprintf(out_, "%s#%d ERROR: %s%s\n", kRed, step_, printable(message).c_str(), kReset);
  } else {
    std::fprintf(out_, "#%d ERROR: %s\n", step_, printable(message).c_str());
  }
  std::fflush(out_);
}

void BuildProgress::note(const std::string& line) {
  flush_partial_line();
  if (mode_ == ProgressMode::kQuiet) return;
  std::fprintf(out_, "%s\n", printable(line).c_str());
  std::fflush(out_);
}

}  // namespace matchlock::dockerbuild
