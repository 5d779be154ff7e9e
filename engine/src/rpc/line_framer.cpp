#include "rpc/line_framer.h"

namespace matchlock::rpc {

LineFramer::LineFramer(LineFn on_line, OversizedFn on_oversized)
    : on_line_(std::move(on_line)), on_oversized_(std::move(on_oversized)) {}

void LineFramer::feed(std::string_view chunk) {
  while (!chunk.empty()) {
    size_t nl = chunk.find('\n');
    std::string_view piece = nl == std::string_view::npos ? chunk : chunk.substr(0, nl);
    chunk = nl == std::string_view::npos ? std::string_view() : chunk.substr(nl + 1);
    bool complete = nl != std::string_view::npos;

    if (discarding_) {
      if (complete) discarding_ = false;
      continue;
    }
    // +1 leaves room for a "\r" that belongs to the "\r\n" terminator.
    if (partial_.size() + piece.size() > kMaxLineBytes + 1) {
      partial_.clear();
      partial_.shrink_to_fit();
      discarding_ = !complete;
      if (on_oversized_) on_oversized_();
      continue;
    }
    if (!complete) {
      partial_.append(piece);
      continue;
    }
    if (partial_.empty()) {
      emit(piece);  // common case: the whole line is in this chunk, no copy
    } else {
      partial_.append(piece);
      std::string line = std::move(partial_);
      partial_.clear();
      emit(line);
    }
  }
}

void LineFramer::finish() {
  if (discarding_ || partial_.empty()) {
    partial_.clear();
    discarding_ = false;
    return;
  }
  std::string line = std::move(partial_);
  partial_.clear();
  emit(line);
}

void LineFramer::emit(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > kMaxLineBytes) {
    if (on_oversized_) on_oversized_();
    return;
  }
  if (line.empty()) return;
  if (on_line_) on_line_(line);
}

}  // namespace matchlock::rpc
