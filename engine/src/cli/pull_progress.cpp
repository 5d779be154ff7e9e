#include "cli/pull_progress.h"

#include "cli/human_units.h"

#include <unistd.h>

namespace matchlock::cli {
namespace {

std::string short_id(const std::string& digest) {
  size_t colon = digest.find(':');
  return digest.substr(colon == std::string::npos ? 0 : colon + 1, 12);
}

}  // namespace

std::string PullProgressRenderer::render(const Row& r) const {
  std::string line = r.id + ": " + r.state;
  if (r.state == "Downloading" && r.total > 0) {
    constexpr int kWidth = 30;
    int fill = static_cast<int>(kWidth * r.done / r.total);
    line += " [" + std::string(fill, '=') + (fill < kWidth ? ">" : "") +
            std::string(fill < kWidth ? kWidth - fill - 1 : 0, ' ') + "] " + human_bytes(r.done) +
            "/" + human_bytes(r.total);
  }
  return line;
}

void PullProgressRenderer::redraw(bool force) {
  auto now = std::chrono::steady_clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  std::string out;
  if (drawn_ > 0) out += "\x1b[" + std::to_string(drawn_) + "A";
  for (const auto& r : rows_) out += "\r\x1b[2K" + render(r) + "\n";
  drawn_ = rows_.size();
  std::fputs(out.c_str(), out_);
  std::fflush(out_);
}

void PullProgressRenderer::on(const image::PullProgress& p) {
  using E = image::PullProgress::Event;
  if (p.event == E::kResolved) {
    std::fprintf(out_, "Resolved %s (%zu blobs)\n", p.digest.c_str(), p.count);
    std::fflush(out_);
    rows_.assign(p.count, Row{});
    return;
  }
  if (p.index >= rows_.size()) rows_.resize(p.index + 1);
  Row& r = rows_[p.index];
  r.id = short_id(p.digest);
  r.done = p.done;
  r.total = p.total;
  switch (p.event) {
    case E::kExists:
      r.state = "Already exists";
      break;
    case E::kStart:
      r.state = "Downloading";
      break;
    case E::kAdvance:
      r.state = "Downloading";
      break;
    case E::kDone:
      r.state = "Pull complete";
      break;
    default:
      break;
  }
  if (tty_) {
    // Only blobs with a known row are drawn; keep the block's order stable.
    for (auto& row : rows_) {
      if (row.id.empty()) row.state = "Waiting";
    }
    redraw(p.event != E::kAdvance);
    return;
  }
  if (p.event == E::kAdvance) return;  // plain output: one line per state change
  std::string extra = p.event == E::kStart ? " (" + human_bytes(p.total) + ")" : "";
  std::fprintf(out_, "%s: %s%s\n", r.id.c_str(), r.state.c_str(), extra.c_str());
  std::fflush(out_);
}

Result<image::PullReport> pull_with_progress(image::ImageStore& store, const std::string& reference,
                                             image::PullOptions options, bool quiet) {
  PullProgressRenderer renderer(stderr, ::isatty(2) == 1);
  if (!quiet) options.progress = [&](const image::PullProgress& p) { renderer.on(p); };
  return store.pull(reference, options);
}

}  // namespace matchlock::cli
