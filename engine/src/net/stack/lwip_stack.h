// lwIP as the guest's whole outside world: one netif whose address is swapped to each
// packet's destination around input, so lwIP accepts traffic to any address without patches.
// The netif's MTU is 0, so lwIP never fragments: what it sends above the guest's MTU is
// fragmented (or sent as a TCP segmentation offload) on the way out (net/stack/outgoing_frames).
// A guest's SYN still sets each connection's MSS, from the guest's own MTU.
// lwIP keeps global state, so one stack may
// exist per process (rpc and run both host one sandbox per process); the stack empties that state
// when it ends, so a later stack starts from nothing.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "core/result.h"
#include "core/uv.h"

struct netif;
struct tcp_pcb;

namespace matchlock::net {

class LwipStack {
 public:
  using OutputFn = std::function<void(const uint8_t* frame, size_t len)>;
  // `large_segments`: whether the guest's NIC takes TCP segments above its MTU now.
  static Result<std::unique_ptr<LwipStack>> create(uv_loop_t* loop, int mtu, OutputFn output,
                                                   std::function<bool()> large_segments = {});
  ~LwipStack();

  // Feeds one frame to lwIP as if the netif's address were `deliver_as` (host order).
  void input(const uint8_t* frame, size_t len, uint32_t deliver_as);
  struct netif* netif();
  // For a connection just accepted from the guest: when its NIC takes large TCP segments and
  // the guest's MSS is the one its MTU implies, lwIP builds segments of up to 64 KiB (a whole
  // number of guest MSS) for it, and its congestion window starts at one of them, since the
  // wire to the guest is a memory copy.
  void widen_segments(struct tcp_pcb* pcb) const;

 private:
  LwipStack() = default;
  // Arms timer_ for lwIP's next due timeout, if it moved (runs before the loop waits).
  void arm_timer();

  OutputFn output_;
  std::function<bool()> large_segments_;
  int mtu_ = 0;
  std::unique_ptr<struct netif> netif_;
  // lwIP's timeouts run when due, not on a fixed tick: an idle sandbox's owner then wakes about
  // once a second (ARP and reassembly ageing), not 20 times (docs/performance.md, Density).
  std::optional<uv::Timer> timer_;
  uv::Handle<uv_prepare_t> rearm_;        // checks the next due timeout before each loop wait
  std::optional<uint32_t> armed_due_ms_;  // sys_now() when timer_ fires, if armed
  std::unique_ptr<uint8_t[]> out_buf_;
  size_t out_cap_ = 0;
  friend struct LwipGlue;
};

}  // namespace matchlock::net
