// How long each step of applying a sandbox's configuration took in the guest, sent to the host
// with READY so `MATCHLOCK_LOG=debug` shows where a boot's configuration time goes.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace matchlock::guest_agent {

class StepClock {
 public:
  using Step = std::pair<std::string, double>;  // name, milliseconds

  // Forgets earlier steps and starts timing from now.
  void start();
  // Ends the step running since the last mark (or start) under `name`.
  void mark(std::string name);
  const std::vector<Step>& steps() const { return steps_; }

 private:
  std::chrono::steady_clock::time_point last_{};
  std::vector<Step> steps_;
};

}  // namespace matchlock::guest_agent
