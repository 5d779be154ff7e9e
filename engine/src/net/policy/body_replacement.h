// Literal find/replace on response bodies, shared by interception rules and SDK callbacks.
//
// Threat model: the body comes from an upstream server (or the guest's peer) and may be huge or
// never end. For text/event-stream the filter streams: it holds back at most one incomplete
// line (kMaxSseLineBytes; a longer line is passed on untouched, the replacements skip it) and
// rewrites each "data:" line's payload as the line completes. Any other body is buffered whole
// by the proxy (needs_whole_body; the proxy bounds it) and rewritten once at the end.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/policy/body_filter.h"

namespace matchlock::net::policy {

struct BodyReplacement {
  std::string find;  // never empty (validated where the rule is parsed)
  std::string replace;
};

// Applies each replacement in order to the result of the previous one; every non-overlapping
// occurrence, left to right; replaced text is not searched again by the same replacement.
std::string apply_replacements(std::string_view text, const std::vector<BodyReplacement>& list);

// True when a Content-Type value names an SSE stream ("text/event-stream; charset=utf-8").
bool is_event_stream(std::string_view content_type);

class ReplacementFilter : public BodyFilter {
 public:
  static constexpr size_t kMaxSseLineBytes = 1024 * 1024;

  // `new_body`: set = the whole body is replaced by it (then the replacements apply), which
  // always needs the whole body, SSE or not.
  ReplacementFilter(std::vector<BodyReplacement> replacements, bool event_stream,
                    std::optional<std::string> new_body = std::nullopt);

  bool needs_whole_body() const override { return !streaming(); }
  std::string on_data(std::string_view chunk) override;
  std::string on_end() override;

 private:
  bool streaming() const { return event_stream_ && !new_body_; }
  std::string rewrite_line(std::string_view line) const;

  std::vector<BodyReplacement> replacements_;
  bool event_stream_;
  std::optional<std::string> new_body_;
  std::string held_;                // streaming: the incomplete line; else the body so far
  bool passing_long_line_ = false;  // streaming: inside a line over the bound
};

}  // namespace matchlock::net::policy
