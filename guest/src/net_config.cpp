#include "net_config.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <thread>

#include "boot_probe.h"
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

// What configure_eth0 last set (none yet: nothing skipped).
std::optional<NetSettings>& configured_eth0() {
  static std::optional<NetSettings> settings;
  return settings;
}

bool parse_int(std::string_view text, int* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
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
  auto cmdline = read_file("/proc/cmdline", 4096);
  if (auto settings = cmdline ? boot_network_settings(*cmdline) : std::nullopt) {
    if (auto st = configure_eth0(*settings); !st.ok()) log_line(st.error().message);
  }
}

std::optional<NetSettings> boot_network_settings(std::string_view cmdline) {
  auto found = cmdline_word_after(cmdline, "matchlock.net=");
  if (!found) return std::nullopt;
  const std::string_view value = *found;
  const size_t slash = value.find('/'), comma = value.find(','), last = value.rfind(',');
  if (slash == std::string_view::npos || comma == std::string_view::npos || comma == last ||
      slash > comma) {
    return std::nullopt;
  }
  NetSettings n;
  n.address = std::string(value.substr(0, slash));
  n.gateway = std::string(value.substr(comma + 1, last - comma - 1));
  if (!parse_int(value.substr(slash + 1, comma - slash - 1), &n.prefix) ||
      !parse_int(value.substr(last + 1), &n.mtu)) {
    return std::nullopt;
  }
  return n;
}

Status configure_eth0(const NetSettings& n) {
  if (configured_eth0() == n) return {};
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
  char dev[] = "eth0";
  auto default_route = [&dev](in_addr_t gateway) {
    rtentry rt{};
    set_addr(&rt.rt_dst, INADDR_ANY);
    set_addr(&rt.rt_genmask, INADDR_ANY);
    set_addr(&rt.rt_gateway, gateway);
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    rt.rt_dev = dev;
    return rt;
  };
  // A different gateway than the boot's: its route goes, so one default route remains.
  if (const auto& old = configured_eth0(); old && old->gateway != n.gateway) {
    in_addr old_gw{};
    if (inet_pton(AF_INET, old->gateway.c_str(), &old_gw) == 1) {
      rtentry rt = default_route(old_gw.s_addr);
      ::ioctl(s.get(), SIOCDELRT, &rt);  // gone already with the old address: fine
    }
  }
  rtentry rt = default_route(gw.s_addr);
  if (::ioctl(s.get(), SIOCADDRT, &rt) != 0 && errno != EEXIST)
    return sys_error("SIOCADDRT default");
  configured_eth0() = n;
  return {};
}

}  // namespace matchlock::guest_agent
