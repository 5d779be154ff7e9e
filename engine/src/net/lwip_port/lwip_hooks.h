// lwIP's hooks (LWIP_HOOK_FILENAME in lwipopts.h). lwIP includes this file from several of its
// own C sources; the TCP hook is defined only where lwIP's TCP internals are in scope.
#pragma once

#ifdef LWIP_HDR_TCP_PRIV_H

// Drops a guest TCP segment whose sequence number sits half the sequence space away from the
// connection's rcv_nxt. No window is that wide, so no peer sends one, but lwIP's serial-number
// comparison is ambiguous exactly there: tcp_receive then takes the segment for one that
// overlaps rcv_nxt and asserts ("insane offset!"), which stops the engine. Found by the
// guest_network fuzzer: an established connection, then one byte at rcv_nxt + 2^31.
// LISTEN and SYN_SENT have no rcv_nxt yet (and a listener's pcb has no such field).
static inline err_t matchlock_tcp_inpacket_hook(struct tcp_pcb* pcb, struct tcp_hdr* hdr) {
  if (pcb->state == LISTEN || pcb->state == SYN_SENT || pcb->state == CLOSED) return ERR_OK;
  // tcp_input has already turned the header's fields to host byte order.
  const u32_t distance = hdr->seqno - pcb->rcv_nxt;
  const u32_t kMargin = 0x20000;  // twice the largest unscaled window, either side
  if (distance > 0x80000000UL - kMargin && distance < 0x80000000UL + kMargin) return ERR_VAL;
  return ERR_OK;
}

#endif
