// The response BodyFilters of one exchange, applied in order: each filter's output is the next
// one's input, and at the end each filter's tail still passes through the filters after it.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/policy/body_filter.h"

namespace matchlock::net::h2 {

class BodyFilterChain {
 public:
  BodyFilterChain() = default;
  explicit BodyFilterChain(std::vector<std::unique_ptr<policy::BodyFilter>> filters);

  bool empty() const { return filters_.empty(); }
  bool needs_whole_body() const;

  std::string on_data(std::string_view chunk);
  std::string on_end();  // at most once; then no more calls
  void on_abort();       // the body broke off; a no-op after on_end()

 private:
  std::vector<std::unique_ptr<policy::BodyFilter>> filters_;
  bool done_ = false;
};

}  // namespace matchlock::net::h2
