// lwIP build options for matchlock's user-space network stack (see docs/network.md and
// docs/architecture.md). lwIP runs single-threaded on the owner's libuv loop.
#pragma once

// libuv pulls in <netinet/tcp.h>, which defines TCP_MSS 512: ours must win.
#undef TCP_MSS

#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_SOCKET 0
#define LWIP_NETCONN 0
#define LWIP_NETIF_API 0

// Heap-backed pools: the MEMP_NUM_* values below are then sizing hints, not hard caps, so
// 300+ concurrent connections never exhaust a static pool.
#define MEM_LIBC_MALLOC 1
#define MEMP_MEM_MALLOC 1
#define MEM_ALIGNMENT 8
#define MEMP_NUM_TCP_PCB 4096
#define MEMP_NUM_TCP_PCB_LISTEN 4096
#define MEMP_NUM_TCP_SEG 16384
#define MEMP_NUM_UDP_PCB 64
#define MEMP_NUM_PBUF 4096
#define PBUF_POOL_SIZE 1024

#define LWIP_IPV4 1
#define LWIP_IPV6 0  // the guest has IPv6 disabled; nothing may bypass the gate
#define LWIP_ARP 1
#define LWIP_ETHERNET 1
#define ETHARP_SUPPORT_STATIC_ENTRIES 1
#define LWIP_ICMP 1
#define LWIP_RAW 0
#define LWIP_UDP 1
#define LWIP_TCP 1
#define LWIP_DHCP 0
#define LWIP_AUTOIP 0
#define LWIP_IGMP 0
#define LWIP_DNS 0
#define IP_FORWARD 0
#define IP_REASSEMBLY 1
#define IP_FRAG 1
#define SO_REUSE 1
#define LWIP_SINGLE_NETIF 1
#define LWIP_STATS 0
#define LWIP_NETIF_STATUS_CALLBACK 0
#define LWIP_NETIF_LINK_CALLBACK 0

#define CHECKSUM_GEN_IP 1
#define CHECKSUM_GEN_UDP 1
#define CHECKSUM_GEN_TCP 1
#define CHECKSUM_GEN_ICMP 1
// Every IPv4 frame reaches lwIP through NetworkStack::on_frame, which drops it unless
// parse_packet verified its IP header and (TCP, UDP) transport checksum; TCP fragments never
// reach lwIP. A second pass over every guest byte would only cost CPU. UDP stays checked (a
// fragmented datagram is verified only after lwIP reassembles it), and so does ICMP.
#define CHECKSUM_CHECK_IP 0
#define CHECKSUM_CHECK_UDP 1
#define CHECKSUM_CHECK_TCP 0
#define CHECKSUM_CHECK_ICMP 1

// The largest link MTU the guest may use (lwIP's pbuf length is a u16: frame <= 65535).
#define MATCHLOCK_MAX_MTU 65520
// The MSS lwIP advertises is min(TCP_MSS, netif mtu - 40), so this covers every --mtu.
#define TCP_MSS (MATCHLOCK_MAX_MTU - 40)
#define LWIP_WND_SCALE 1
#define TCP_RCV_SCALE 7
#define TCP_WND (1024 * 1024)
#define TCP_SND_BUF (1024 * 1024)
#define TCP_SND_QUEUELEN ((4 * TCP_SND_BUF + 1459) / 1460 + 16)
#define TCP_SNDLOWAT (2 * TCP_MSS + 1)
#define TCP_SNDQUEUELOWAT 8
#define TCP_QUEUE_OOSEQ 1
#define LWIP_TCP_SACK_OUT 1
#define TCP_LISTEN_BACKLOG 0
#define LWIP_TCP_KEEPALIVE 1
#define TCP_OVERSIZE TCP_MSS
#define LWIP_DISABLE_TCP_SANITY_CHECKS 1  // big windows trip checks meant for socket layers
#define TCP_WND_UPDATE_THRESHOLD (TCP_WND / 8)
#define TCP_MSL 5000UL  // short TIME_WAIT: guest 4-tuples get reused quickly

// Segments lwIP would mistake for in-window ones are dropped before it sees them (lwip_hooks.h).
#define LWIP_HOOK_FILENAME "lwip_hooks.h"
#define LWIP_HOOK_TCP_INPACKET_PCB(pcb, hdr, optlen, opt1len, opt2, p) \
  matchlock_tcp_inpacket_hook((pcb), (hdr))

// LWIP_DEBUG and LWIP_NOASSERT are tested with #ifdef: leave them undefined (assertions on).
