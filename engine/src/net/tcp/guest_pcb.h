// The one owner of a guest connection's lwIP tcp_pcb. Every way of letting go of the pcb
// (abort with RST, graceful close, handing a TIME_WAIT pcb back to lwIP, or forgetting one
// lwIP already freed) detaches our callbacks first, in one place, so lwIP never calls into a
// dead connection. Destroying a still-attached GuestPcb aborts it.
#pragma once

#include <cstddef>
#include <cstdint>

struct tcp_pcb;
struct pbuf;

namespace matchlock::net {

class GuestPcb {
 public:
  // What lwIP reports about an attached pcb.
  class Events {
   public:
    virtual ~Events() = default;
    // Bytes from the guest (ownership of `p` passes), or null for its FIN. Returns an lwIP
    // err_t: ERR_ABRT if the pcb was aborted meanwhile.
    virtual int8_t on_guest_data(struct pbuf* p) = 0;
    // The guest acknowledged bytes: lwIP's send buffer has room again.
    virtual void on_guest_acked() = 0;
    // lwIP freed the pcb (reset, or closed after our FIN); the GuestPcb is already empty.
    virtual void on_guest_error(int8_t err) = 0;
  };

  GuestPcb() = default;
  ~GuestPcb() { abort(); }
  GuestPcb(const GuestPcb&) = delete;
  GuestPcb& operator=(const GuestPcb&) = delete;

  void attach(struct tcp_pcb* pcb, Events& events);
  bool attached() const { return pcb_ != nullptr; }
  // True once abort() let go of a pcb: lwIP's recv callback must then return ERR_ABRT.
  bool aborted() const { return aborted_; }

  // Resets the guest (RST) and frees the pcb.
  void abort();
  // Graceful close (FIN); lwIP finishes LAST_ACK/TIME_WAIT itself. Aborts if lwIP cannot.
  void close();
  // Both FINs seen: the pcb goes to TIME_WAIT, which lwIP frees without telling us.
  void release_to_lwip();

  // Data path; all are no-ops without a pcb.
  size_t send_room() const;  // bytes lwIP's send buffer takes now
  size_t mss() const;
  // Copies up to what fits; returns how many bytes lwIP took.
  size_t write(const char* data, size_t len);
  void shutdown_send();       // our FIN
  void output();              // flush queued segments
  void credit(size_t bytes);  // reopen the guest's receive window

 private:
  friend struct GuestPcbCallbacks;
  // Clears tcp_arg/recv/sent/err and forgets the pcb: the single detach sequence.
  struct tcp_pcb* detach();
  // lwIP freed the pcb itself (its err callback): nothing to detach.
  void forget() { pcb_ = nullptr; }

  struct tcp_pcb* pcb_ = nullptr;
  Events* events_ = nullptr;
  bool aborted_ = false;
};

}  // namespace matchlock::net
