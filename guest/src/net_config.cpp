#include "net_config.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "core/unique_fd.h"
#include "fs_util.h"
#include "log.h"

namespace matchlock::guest_agent {
namespace {

Status sys_error(const std::string& what) {
  return io_error(what + ": " + std::strerror(errno));
}

void set_addr(sockaddr* sa, in_addr_t a) {
  auto* in = reinterpret_cast<sockaddr_in*>(sa);
  std::memset(in, 0, sizeof *in);
  in->sin_family = AF_INET;
  in->sin_addr.s_addr = a;
}

Status set_up(int fd, const char* name) {
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (::ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) return sys_error(std::string("SIOCGIFFLAGS ") + name);
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (::ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) return sys_error(std::string("SIOCSIFFLAGS ") + name);
  return {};
}

void disable_ipv6() {
  // Absent when the kernel has no IPv6: then there is nothing to disable. "all" covers the
  // interfaces that exist (lo, eth0), "default" any created later.
  for (const char* p : {"/proc/sys/net/ipv6/conf/all/disable_ipv6",
                        "/proc/sys/net/ipv6/conf/default/disable_ipv6"}) {
    if (::access(p, F_OK) == 0 && !write_file(p, "1\n")) log_errno(std::string("write ") + p);
  }
}

}  // namespace

void prepare_network_devices() {
  disable_ipv6();
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) {
    log_errno("socket");
    return;
  }
  if (auto st = set_up(s.get(), "lo"); !st.ok()) log_line(st.error().message);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "eth0", IFNAMSIZ - 1);
  if (::ioctl(s.get(), SIOCGIFINDEX, &ifr) != 0) return;  // no NIC: a --no-network sandbox
  if (auto st = set_up(s.get(), "eth0"); !st.ok()) log_line(st.error().message);
}

Status configure_eth0(const NetSettings& n) {
  in_addr addr{}, gw{};
  if (inet_pton(AF_INET, n.address.c_str(), &addr) != 1)
    return invalid_argument("config: network.address is not IPv4");
  if (inet_pton(AF_INET, n.gateway.c_str(), &gw) != 1)
    return invalid_argument("config: network.gateway is not IPv4");
  if (n.prefix < 1 || n.prefix > 30) return invalid_argument("config: network.prefix out of range");
  if (n.mtu < 576 || n.mtu > 65520) return invalid_argument("config: network.mtu out of range");
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) return sys_error("socket");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "eth0", IFNAMSIZ - 1);
  // virtio_net registers eth0 as its module loads at boot; allow a late probe a moment.
  for (int i = 0; ::ioctl(s.get(), SIOCGIFINDEX, &ifr) != 0; ++i) {
    if (i >= 100) return sys_error("eth0 did not appear");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  set_addr(&ifr.ifr_addr, addr.s_addr);
  if (::ioctl(s.get(), SIOCSIFADDR, &ifr) != 0) return sys_error("SIOCSIFADDR eth0");
  uint32_t mask = htonl(~uint32_t{0} << (32 - n.prefix));
  set_addr(&ifr.ifr_netmask, mask);
  if (::ioctl(s.get(), SIOCSIFNETMASK, &ifr) != 0) return sys_error("SIOCSIFNETMASK eth0");
  ifr.ifr_mtu = n.mtu;
  if (::ioctl(s.get(), SIOCSIFMTU, &ifr) != 0) return sys_error("SIOCSIFMTU eth0");
  MATCHLOCK_TRY(set_up(s.get(), "eth0"));
  rtentry rt{};
  set_addr(&rt.rt_dst, INADDR_ANY);
  set_addr(&rt.rt_genmask, INADDR_ANY);
  set_addr(&rt.rt_gateway, gw.s_addr);
  rt.rt_flags = RTF_UP | RTF_GATEWAY;
  char dev[] = "eth0";
  rt.rt_dev = dev;
  if (::ioctl(s.get(), SIOCADDRT, &rt) != 0 && errno != EEXIST)
    return sys_error("SIOCADDRT default");
  return {};
}

}  // namespace matchlock::guest_agent
