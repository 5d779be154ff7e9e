// Sends one DNS query to the configured servers from the host, in order, each with a timeout,
// and returns the first reply whose ID matches. Replies up to 64 kB are accepted (EDNS).
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/nat/tcp_relay.h"

namespace matchlock::net {

class UpstreamResolver {
 public:
  using Done = std::function<void(std::optional<std::string> reply)>;
  UpstreamResolver(uv_loop_t* loop, std::vector<Endpoint> servers, uint64_t timeout_ms = 2000);
  ~UpstreamResolver();

  // `done` runs on the loop, at most once; never after this resolver is destroyed.
  void resolve(std::string query, Done done);

 private:
  struct Query;
  void attempt(Query& q);
  void finish(uint64_t id, std::optional<std::string> reply);

  uv_loop_t* loop_;
  std::vector<Endpoint> servers_;
  uint64_t timeout_ms_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::unique_ptr<Query>> inflight_;
};

}  // namespace matchlock::net
