#include "step_clock.h"

namespace matchlock::guest_agent {

void StepClock::start() {
  steps_.clear();
  last_ = std::chrono::steady_clock::now();
}

void StepClock::mark(std::string name) {
  const auto now = std::chrono::steady_clock::now();
  steps_.emplace_back(std::move(name),
                      std::chrono::duration<double, std::milli>(now - last_).count());
  last_ = now;
}

}  // namespace matchlock::guest_agent
