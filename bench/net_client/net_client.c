// Guest-side client for bench/net_throughput.py: moves bytes through the guest's network stack
// with large buffers so that the figures measure the path (guest kernel, NIC, the engine's
// stack or slirp), not a tool's small copy loop as busybox wget/nc did.
//
//   net_client down IP PORT MIB   GET /MIB from the bench server, read() 1 MiB at a time
//   net_client up   IP PORT MIB   write() MIB MiB in 1 MiB writes, then wait for the server's close
//   net_client setup IP PORT N    N sequential connects, each followed by a 1-byte exchange
//
// Each mode prints one line of figures timed with the guest's CLOCK_MONOTONIC; the bench
// reports the server's host-clock figures for throughput and these only for connection setup.
// Static, no libc extras: built by bench/net_client/build.sh and mounted into the guest.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { kIoSize = 1 << 20, kSockBuf = 4 << 20, kMaxConns = 10000 };

static char g_buf[kIoSize];

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char* what) {
  fprintf(stderr, "net_client: %s: %s\n", what, strerror(errno));
  exit(1);
}

// Large socket buffers (SO_*BUFFORCE: the guest runs us as root, so rmem_max does not cap it).
static void size_buffers(int fd) {
  int n = kSockBuf;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &n, sizeof n) != 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &n, sizeof n);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &n, sizeof n) != 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &n, sizeof n);
}

static int dial(const struct sockaddr_in* to, int big_buffers) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  if (big_buffers) size_buffers(fd);  // before connect: the window scale is fixed by the SYN
  if (connect(fd, (const struct sockaddr*)to, sizeof *to) != 0) die("connect");
  return fd;
}

static void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) die("write");
    p += w;
    n -= (size_t)w;
  }
}

static int down(const struct sockaddr_in* to, long mib) {
  int fd = dial(to, 1);
  char req[64];
  int len = snprintf(req, sizeof req, "GET /%ld HTTP/1.0\r\n\r\n", mib);
  double t0 = now_s();
  write_all(fd, req, (size_t)len);
  long long total = 0;
  for (;;) {
    ssize_t r = read(fd, g_buf, sizeof g_buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) die("read");
    if (r == 0) break;
    total += r;
  }
  double dt = now_s() - t0;
  close(fd);  // the server's clock stops at this close
  printf("down %lld bytes %.3f s %.1f MB/s (guest clock, incl. headers)\n", total, dt,
         (double)total / dt / 1e6);
  return 0;
}

static int up(const struct sockaddr_in* to, long mib) {
  int fd = dial(to, 1);
  double t0 = now_s();
  for (long i = 0; i < mib; i++) write_all(fd, g_buf, sizeof g_buf);
  shutdown(fd, SHUT_WR);
  // The server closes once it has read everything: the upload is delivered, not just queued.
  while (read(fd, g_buf, sizeof g_buf) > 0) {
  }
  double dt = now_s() - t0;
  close(fd);
  printf("up %ld bytes %.3f s %.1f MB/s (guest clock)\n", mib << 20, dt,
         (double)(mib << 20) / dt / 1e6);
  return 0;
}

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

// connect() returns when the SYN/ACK arrives; the 1-byte echo then adds one data round trip
// through the established relay. Small buffers: setup cost, not buffer allocation, is measured.
static int setup(const struct sockaddr_in* to, long n) {
  static double conn_ms[kMaxConns], rtt_ms[kMaxConns];
  if (n < 1 || n > kMaxConns) {
    fprintf(stderr, "net_client: setup count must be 1..%d\n", kMaxConns);
    return 2;
  }
  double t_all = now_s();
  for (long i = 0; i < n; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    double t0 = now_s();
    if (connect(fd, (const struct sockaddr*)to, sizeof *to) != 0) die("connect");
    double t1 = now_s();
    char c = 'x';
    write_all(fd, &c, 1);
    if (read(fd, &c, 1) != 1) die("read echo");
    double t2 = now_s();
    close(fd);
    conn_ms[i] = (t1 - t0) * 1e3;
    rtt_ms[i] = (t2 - t1) * 1e3;
  }
  double total_ms = (now_s() - t_all) * 1e3;
  qsort(conn_ms, (size_t)n, sizeof conn_ms[0], cmp_double);
  qsort(rtt_ms, (size_t)n, sizeof rtt_ms[0], cmp_double);
  printf("setup n %ld connect_median_ms %.3f connect_p90_ms %.3f echo_median_ms %.3f "
         "per_conn_ms %.3f\n",
         n, conn_ms[n / 2], conn_ms[(n * 9) / 10], rtt_ms[n / 2], total_ms / (double)n);
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: net_client down|up|setup IP PORT N\n");
    return 2;
  }
  struct sockaddr_in to;
  memset(&to, 0, sizeof to);
  to.sin_family = AF_INET;
  to.sin_port = htons((unsigned short)atoi(argv[3]));
  if (inet_pton(AF_INET, argv[2], &to.sin_addr) != 1) {
    fprintf(stderr, "net_client: bad address %s\n", argv[2]);
    return 2;
  }
  long n = atol(argv[4]);
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (strcmp(argv[1], "down") == 0) return down(&to, n);
  if (strcmp(argv[1], "up") == 0) return up(&to, n);
  if (strcmp(argv[1], "setup") == 0) return setup(&to, n);
  fprintf(stderr, "net_client: unknown mode %s\n", argv[1]);
  return 2;
}
