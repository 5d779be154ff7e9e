#include "net/h2/body_filter_chain.h"

namespace matchlock::net::h2 {

BodyFilterChain::BodyFilterChain(std::vector<std::unique_ptr<policy::BodyFilter>> filters)
    : filters_(std::move(filters)) {}

bool BodyFilterChain::needs_whole_body() const {
  for (const auto& filter : filters_) {
    if (filter->needs_whole_body()) return true;
  }
  return false;
}

std::string BodyFilterChain::on_data(std::string_view chunk) {
  std::string piece(chunk);
  for (const auto& filter : filters_) {
    if (piece.empty()) break;  // nothing reaches the filters after one that held it all back
    piece = filter->on_data(piece);
  }
  return piece;
}

std::string BodyFilterChain::on_end() {
  if (done_) return {};
  done_ = true;
  std::string carried;
  for (const auto& filter : filters_) {
    std::string out = carried.empty() ? std::string() : filter->on_data(carried);
    out += filter->on_end();
    carried = std::move(out);
  }
  return carried;
}

void BodyFilterChain::on_abort() {
  if (done_) return;
  done_ = true;
  for (const auto& filter : filters_) filter->on_abort();
}

}  // namespace matchlock::net::h2
