/* What a hostile workload does that BusyBox cannot: raw garbage into device nodes, raw frames
 * out of the NIC, thousands of TCP connections at once, a flood of DNS queries, the agent's code
 * overwritten. Built static by the hostile-guest suite
 * (test_hostile_guest.py) and mounted into the guest read-only. Every loop is bounded in count
 * and time, and every subcommand prints one summary line. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t next_random(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fill_random(unsigned char *buf, size_t n) {
  for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)next_random();
}

/* garbage PATH BYTES SECONDS: random bytes into PATH until BYTES are written, SECONDS pass, or
 * the device refuses; a write that would block is waited out with poll. */
static int cmd_garbage(const char *path, long long total, double seconds) {
  int fd = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    printf("garbage %s: open failed: %s\n", path, strerror(errno));
    return 0;
  }
  unsigned char buf[4096];
  long long written = 0;
  const double end = now_s() + seconds;
  const char *why = "done";
  while (written < total) {
    if (now_s() > end) {
      why = "time";
      break;
    }
    fill_random(buf, sizeof buf);
    size_t n = sizeof buf;
    if ((long long)n > total - written) n = (size_t)(total - written);
    ssize_t w = write(fd, buf, n);
    if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
      struct pollfd p = {fd, POLLOUT, 0};
      poll(&p, 1, 100);
      continue;
    }
    if (w <= 0) {
      why = strerror(errno);
      break;
    }
    written += w;
  }
  close(fd);
  printf("garbage %s: wrote %lld (%s)\n", path, written, why);
  fflush(stdout);
  return 0;
}

/* frames IFACE COUNT: COUNT raw Ethernet frames of random length (the minimum to the MTU) and
 * random content out of IFACE (AF_PACKET: needs CAP_NET_RAW), every eighth one with the
 * guest's own MAC and an IPv4 type so it gets past the first look. */
static int cmd_frames(const char *iface, int count) {
  int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  if (fd < 0) {
    printf("frames %s: socket failed: %s\n", iface, strerror(errno));
    return 1;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", iface);
  if (ioctl(fd, SIOCGIFINDEX, &ifr) != 0) {
    printf("frames %s: no such interface: %s\n", iface, strerror(errno));
    close(fd);
    return 1;
  }
  struct sockaddr_ll to;
  memset(&to, 0, sizeof to);
  to.sll_family = AF_PACKET;
  to.sll_ifindex = ifr.ifr_ifindex;
  /* The index and the MTU share ifr's union: the MTU is asked for once the index is kept. */
  const int mtu = ioctl(fd, SIOCGIFMTU, &ifr) == 0 ? ifr.ifr_mtu : 1500;
  to.sll_halen = 6;
  unsigned char frame[65536];
  int sent = 0;
  for (int i = 0; i < count; i++) {
    const size_t len = 14 + (size_t)(next_random() % (uint64_t)(mtu + 1));
    fill_random(frame, len);
    if (i % 8 == 0) {
      memcpy(frame, "\x52\x54\x00\x12\x34\x02", 6); /* the gateway's MAC */
      frame[12] = 0x08;
      frame[13] = 0x00;
      frame[14] = 0x45;
    }
    memcpy(to.sll_addr, frame, 6);
    if (sendto(fd, frame, len, 0, (struct sockaddr *)&to, sizeof to) == (ssize_t)len) sent++;
  }
  close(fd);
  printf("frames %s: sent %d of %d\n", iface, sent, count);
  fflush(stdout);
  return 0;
}

static void raise_fd_limit(int wanted) {
  struct rlimit r = {(rlim_t)wanted, (rlim_t)wanted};
  setrlimit(RLIMIT_NOFILE, &r);
}

/* connect IP PORT COUNT SECONDS: COUNT non-blocking connects at once, all held open until each
 * has connected or failed, then until each connected one has read the server's first bytes or
 * been closed (or SECONDS pass in all); prints how many did which. */
static int cmd_connect(const char *ip, int port, int count, double seconds) {
  raise_fd_limit(count + 64);
  struct sockaddr_in to = {0};
  to.sin_family = AF_INET;
  to.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, ip, &to.sin_addr) != 1) return 2;
  struct pollfd *fds = calloc((size_t)count, sizeof *fds);
  int opened = 0, connected = 0, failed = 0;
  for (int i = 0; i < count; i++) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    fds[i].fd = s;
    if (s < 0) {
      failed++;
      continue;
    }
    opened++;
    fds[i].events = POLLOUT;
    if (connect(s, (struct sockaddr *)&to, sizeof to) == 0) {
      connected++;
      fds[i].events = POLLIN;
    } else if (errno != EINPROGRESS) {
      failed++;
      fds[i].events = 0;
    }
  }
  const double end = now_s() + seconds;
  int pending = count - connected - failed, answered = 0, closed = 0;
  int waiting = connected; /* connected, nothing read yet */
  while ((pending > 0 || waiting > 0) && now_s() < end) {
    if (poll(fds, (nfds_t)count, 200) <= 0) continue;
    for (int i = 0; i < count; i++) {
      if (fds[i].events == 0 || fds[i].revents == 0) continue;
      if (fds[i].events == POLLOUT) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fds[i].fd, SOL_SOCKET, SO_ERROR, &err, &len);
        pending--;
        if (err == 0 && !(fds[i].revents & POLLERR)) {
          connected++;
          waiting++;
          fds[i].events = POLLIN;
        } else {
          failed++;
          fds[i].events = 0;
        }
        continue;
      }
      char b[64];
      ssize_t n = recv(fds[i].fd, b, sizeof b, 0);
      if (n < 0 && errno == EAGAIN) continue;
      if (n > 0)
        answered++;
      else
        closed++;
      waiting--;
      fds[i].events = 0;
    }
  }
  for (int i = 0; i < count; i++) {
    if (fds[i].fd >= 0) close(fds[i].fd);
  }
  free(fds);
  printf("connect %s:%d: opened=%d connected=%d failed=%d pending=%d answered=%d closed=%d\n", ip,
         port, opened, connected, failed, pending, answered, closed);
  fflush(stdout);
  return 0;
}

/* dnsflood SERVER COUNT: COUNT queries for random names to SERVER:53 as fast as the socket
 * takes them, answers read (and counted) without waiting for them. */
static int cmd_dnsflood(const char *server, int count) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (s < 0) return 2;
  struct sockaddr_in to = {0};
  to.sin_family = AF_INET;
  to.sin_port = htons(53);
  if (inet_pton(AF_INET, server, &to.sin_addr) != 1) return 2;
  int sent = 0, answers = 0;
  unsigned char q[128], a[1500];
  const double end = now_s() + 120;
  while (sent < count && now_s() < end) {
    size_t n = 0;
    uint16_t id = (uint16_t)next_random();
    unsigned char header[12] = {(unsigned char)(id >> 8), (unsigned char)id, 0x01, 0, 0, 1, 0, 0,
                                0, 0, 0, 0};
    memcpy(q, header, sizeof header);
    n = sizeof header;
    /* flood-<random>.example.test */
    char label[32];
    int len = snprintf(label, sizeof label, "flood-%08llx", (unsigned long long)next_random());
    q[n++] = (unsigned char)len;
    memcpy(q + n, label, (size_t)len);
    n += (size_t)len;
    const char *rest[] = {"example", "test"};
    for (int i = 0; i < 2; i++) {
      q[n++] = (unsigned char)strlen(rest[i]);
      memcpy(q + n, rest[i], strlen(rest[i]));
      n += strlen(rest[i]);
    }
    q[n++] = 0;
    q[n++] = 0, q[n++] = 1; /* A */
    q[n++] = 0, q[n++] = 1; /* IN */
    if (sendto(s, q, n, 0, (struct sockaddr *)&to, sizeof to) == (ssize_t)n) {
      sent++;
    } else if (errno == EAGAIN || errno == ENOBUFS) {
      struct pollfd p = {s, POLLOUT, 0};
      poll(&p, 1, 10);
    }
    while (recv(s, a, sizeof a, 0) > 0) answers++;
  }
  /* The last answers, for a moment. */
  const double drain = now_s() + 2;
  while (now_s() < drain) {
    struct pollfd p = {s, POLLIN, 0};
    if (poll(&p, 1, 100) > 0) {
      while (recv(s, a, sizeof a, 0) > 0) answers++;
    }
  }
  close(s);
  printf("dnsflood %s: sent=%d answers=%d\n", server, sent, answers);
  fflush(stdout);
  return 0;
}

/* corrupt PID: overwrites the first executable mapping of PID with breakpoint instructions
 * through /proc/PID/mem (root may write another process's code there), so the process dies
 * with SIGTRAP the next time it runs: for PID 1, the guest agent, that is the end of the guest. */
static int cmd_corrupt(const char *pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%s/maps", pid);
  FILE *maps = fopen(path, "r");
  if (!maps) return 2;
  unsigned long long start = 0, end = 0;
  char perms[8], line[512];
  int found = 0;
  while (fgets(line, sizeof line, maps)) {
    if (sscanf(line, "%llx-%llx %7s", &start, &end, perms) == 3 && strcmp(perms, "r-xp") == 0) {
      found = 1;
      break;
    }
  }
  fclose(maps);
  if (!found) return 2;
  snprintf(path, sizeof path, "/proc/%s/mem", pid);
  int fd = open(path, O_RDWR);
  if (fd < 0) {
    printf("corrupt %s: open failed: %s\n", pid, strerror(errno));
    return 1;
  }
  unsigned char traps[4096];
  memset(traps, 0xcc, sizeof traps);
  unsigned long long done = 0;
  for (unsigned long long at = start; at < end; at += sizeof traps) {
    if (pwrite(fd, traps, sizeof traps, (off_t)at) == (ssize_t)sizeof traps) done += sizeof traps;
  }
  close(fd);
  printf("corrupt %s: overwrote %llu bytes of code\n", pid, done);
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  rng_state ^= (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
  if (argc == 5 && strcmp(argv[1], "garbage") == 0) {
    return cmd_garbage(argv[2], atoll(argv[3]), atof(argv[4]));
  }
  if (argc == 6 && strcmp(argv[1], "connect") == 0) {
    return cmd_connect(argv[2], atoi(argv[3]), atoi(argv[4]), atof(argv[5]));
  }
  if (argc == 4 && strcmp(argv[1], "dnsflood") == 0) {
    return cmd_dnsflood(argv[2], atoi(argv[3]));
  }
  if (argc == 3 && strcmp(argv[1], "corrupt") == 0) return cmd_corrupt(argv[2]);
  if (argc == 4 && strcmp(argv[1], "frames") == 0) return cmd_frames(argv[2], atoi(argv[3]));
  fprintf(stderr,
          "usage: %s garbage PATH BYTES SECONDS | connect IP PORT COUNT SECONDS | "
          "dnsflood SERVER COUNT | corrupt PID | frames IFACE COUNT\n",
          argv[0]);
  return 2;
}
