#include "net/policy/body_replacement.h"

#include "core/ascii.h"

namespace matchlock::net::policy {

std::string apply_replacements(std::string_view text, const std::vector<BodyReplacement>& list) {
  std::string current(text);
  for (const BodyReplacement& r : list) {
    if (r.find.empty()) continue;
    std::string out;
    size_t pos = 0;
    for (size_t at; (at = current.find(r.find, pos)) != std::string::npos;
         pos = at + r.find.size()) {
      out.append(current, pos, at - pos);
      out += r.replace;
    }
    out.append(current, pos, std::string::npos);
    current = std::move(out);
  }
  return current;
}

bool is_event_stream(std::string_view content_type) {
  constexpr std::string_view kType = "text/event-stream";
  size_t start = content_type.find_first_not_of(" \t");
  if (start == std::string_view::npos) return false;
  content_type.remove_prefix(start);
  if (content_type.size() < kType.size()) return false;
  if (!equals_ignoring_ascii_case(content_type.substr(0, kType.size()), kType)) return false;
  return content_type.size() == kType.size() || content_type[kType.size()] == ';' ||
         content_type[kType.size()] == ' ';
}

ReplacementFilter::ReplacementFilter(std::vector<BodyReplacement> replacements, bool event_stream,
                                     std::optional<std::string> new_body)
    : replacements_(std::move(replacements)),
      event_stream_(event_stream),
      new_body_(std::move(new_body)) {}

std::string ReplacementFilter::rewrite_line(std::string_view line) const {
  constexpr std::string_view kData = "data:";
  if (line.substr(0, kData.size()) != kData) return std::string(line);
  // The line ending stays out of reach of the replacements.
  size_t content_end = line.size();
  if (content_end > 0 && line[content_end - 1] == '\n') --content_end;
  if (content_end > 0 && line[content_end - 1] == '\r') --content_end;
  std::string_view payload = line.substr(kData.size(), content_end - kData.size());
  return std::string(kData) + apply_replacements(payload, replacements_) +
         std::string(line.substr(content_end));
}

std::string ReplacementFilter::on_data(std::string_view chunk) {
  if (!streaming()) {
    if (!new_body_) held_.append(chunk);  // a replaced body ignores the original
    return {};
  }
  std::string out;
  while (!chunk.empty()) {
    size_t newline = chunk.find('\n');
    std::string_view piece =
        chunk.substr(0, newline == std::string_view::npos ? chunk.size() : newline + 1);
    chunk.remove_prefix(piece.size());
    bool complete = piece.back() == '\n';
    if (passing_long_line_) {
      out.append(piece);
      passing_long_line_ = !complete;
      continue;
    }
    held_.append(piece);
    if (complete) {
      // Over the bound is over the bound, however the chunks fell: passed on untouched.
      out += held_.size() > kMaxSseLineBytes ? held_ : rewrite_line(held_);
      held_.clear();
    } else if (held_.size() > kMaxSseLineBytes) {
      out += held_;
      held_.clear();
      passing_long_line_ = true;
    }
  }
  return out;
}

std::string ReplacementFilter::on_end() {
  std::string rest = std::move(held_);
  held_.clear();
  if (streaming()) return passing_long_line_ ? rest : rewrite_line(rest);
  return apply_replacements(new_body_ ? *new_body_ : rest, replacements_);
}

}  // namespace matchlock::net::policy
