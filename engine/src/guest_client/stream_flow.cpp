#include "guest_client/stream_flow.h"

#include <algorithm>

namespace matchlock::guest_client {

void OutgoingFlow::push(std::string bytes) {
  if (finishing_ || bytes.empty()) return;
  queued_bytes_ += bytes.size();
  queue_.push_back(std::move(bytes));
}

void OutgoingFlow::finish() {
  finishing_ = true;
}

void OutgoingFlow::close_silently() {
  finishing_ = eof_sent_ = true;
  queue_.clear();
  queued_bytes_ = 0;
}

void OutgoingFlow::add_credit(uint32_t bytes) {
  uint64_t credit = uint64_t{credit_} + bytes;
  credit_ = credit > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(credit);
}

std::optional<std::string> OutgoingFlow::take_chunk() {
  if (queue_.empty() || credit_ == 0) return std::nullopt;
  std::string& front = queue_.front();
  size_t n = std::min<size_t>({front.size(), credit_, guest_protocol::kMaxDataChunk});
  std::string chunk;
  if (n == front.size()) {
    chunk = std::move(front);
    queue_.pop_front();
  } else {
    chunk = front.substr(0, n);
    front.erase(0, n);
  }
  credit_ -= static_cast<uint32_t>(n);
  queued_bytes_ -= n;
  return chunk;
}

bool OutgoingFlow::take_eof() {
  if (!finishing_ || eof_sent_ || !queue_.empty()) return false;
  eof_sent_ = true;
  return true;
}

IncomingFlow IncomingFlow::unused() {
  IncomingFlow f;
  f.ended_ = true;
  return f;
}

bool IncomingFlow::accept(size_t bytes) {
  received_ += bytes;
  return !ended_ && received_ <= granted_;
}

bool IncomingFlow::end() {
  if (ended_) return false;
  ended_ = true;
  return true;
}

}  // namespace matchlock::guest_client
