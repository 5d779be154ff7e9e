// Splits the client's byte stream into NDJSON lines.
//
// THREAT MODEL: input comes from whoever spawned us and may be garbage or hostile; a line is
// never buffered beyond kMaxLineBytes, so a client cannot make us grow without bound.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace matchlock::rpc {

class LineFramer {
 public:
  // Same cap as the original engine, so write_file payloads of up to ~7.5 MiB still fit.
  static constexpr size_t kMaxLineBytes = 10 * 1024 * 1024;

  using LineFn = std::function<void(std::string_view line)>;
  // Reported once per oversized line; the rest of that line is discarded up to its '\n'.
  using OversizedFn = std::function<void()>;

  LineFramer(LineFn on_line, OversizedFn on_oversized);

  // Feeds a chunk of input; complete non-empty lines are delivered in order, without their
  // "\n" or "\r\n".
  void feed(std::string_view chunk);
  // End of input: delivers a final unterminated line, if any.
  void finish();

 private:
  void emit(std::string_view line);

  LineFn on_line_;
  OversizedFn on_oversized_;
  std::string partial_;
  bool discarding_ = false;
};

}  // namespace matchlock::rpc
