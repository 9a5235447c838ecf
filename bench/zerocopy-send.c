// The experiment behind bench/zerocopy-send.ts: the sending path's UDP GSO messages (a run of
// `segments` datagrams of `size` bytes, as sendBatch plans them, one sendmmsg of `batch` such
// messages) sent with a copy or with MSG_ZEROCOPY (Documentation/networking/msg_zerocopy.rst).
// Zero-copy buffers are held until the kernel's completion for them is read from the error queue
// (SO_EE_ORIGIN_ZEROCOPY, ee_info..ee_data a range of send calls), so a ring of `ring` batches
// stands for the shard's reused slab. Prints one JSON line:
//   bytes sent, the sender's CPU seconds (user + system, getrusage), send calls, completions read,
//   and how many of the completed calls the kernel reports it copied anyway (SO_EE_CODE_ZEROCOPY_COPIED).
//   zerocopy-send recv IP PORT SECONDS
//   zerocopy-send send IP PORT SECONDS copy|zerocopy SIZE SEGMENTS BATCH RING
#define _GNU_SOURCE  // sendmmsg, recvmmsg
#include <arpa/inet.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_ZEROCOPY
#define SO_ZEROCOPY 60
#endif
#ifndef MSG_ZEROCOPY
#define MSG_ZEROCOPY 0x4000000
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}

static void die(const char* what) {
  perror(what);
  exit(1);
}

static struct sockaddr_in address(const char* ip, const char* port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
  if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) die("inet_pton");
  return a;
}

// Receives for `seconds` after the first datagram, whole GRO buffers at a time; prints the bytes.
static int receive(const char* ip, const char* port, double seconds) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = address(ip, port);
  int on = 1, big = 16 << 20;
  setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  if (bind(fd, (struct sockaddr*)&a, sizeof a) < 0) die("bind");
  printf("listening\n");
  fflush(stdout);
  enum { N = 32, ROOM = 65536 };
  static char bufs[N][ROOM];
  struct mmsghdr msgs[N];
  struct iovec iovs[N];
  char controls[N][CMSG_SPACE(sizeof(int))];
  uint64_t bytes = 0;
  double end = 0;
  struct pollfd p = {.fd = fd, .events = POLLIN};
  while (end == 0 || now() < end) {
    if (poll(&p, 1, 100) <= 0) continue;
    for (int k = 0; k < N; k++) {
      iovs[k] = (struct iovec){bufs[k], ROOM};
      memset(&msgs[k], 0, sizeof msgs[k]);
      msgs[k].msg_hdr.msg_iov = &iovs[k];
      msgs[k].msg_hdr.msg_iovlen = 1;
      msgs[k].msg_hdr.msg_control = controls[k];
      msgs[k].msg_hdr.msg_controllen = sizeof controls[k];
    }
    int m = recvmmsg(fd, msgs, N, MSG_DONTWAIT, NULL);
    if (m <= 0) continue;
    if (end == 0) end = now() + seconds;
    for (int k = 0; k < m; k++) bytes += msgs[k].msg_len;
  }
  printf("{\"bytes\":%llu}\n", (unsigned long long)bytes);
  return 0;
}

struct Completions {
  uint64_t read;    // completion notifications read
  uint64_t calls;   // send calls they complete
  uint64_t copied;  // of those, calls the kernel copied anyway
  uint32_t done;    // send calls completed so far: calls [0, done) may be reused
};

// Reads every zero-copy completion waiting on fd's error queue.
static void complete(int fd, struct Completions* c) {
  for (;;) {
    char control[128];
    struct msghdr msg = {.msg_control = control, .msg_controllen = sizeof control};
    if (recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
      if (errno == EAGAIN) return;
      die("recvmsg MSG_ERRQUEUE");
    }
    for (struct cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
      if (!((cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_RECVERR) || (cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_RECVERR))) continue;
      struct sock_extended_err e;
      memcpy(&e, CMSG_DATA(cm), sizeof e);
      if (e.ee_origin != SO_EE_ORIGIN_ZEROCOPY) continue;
      const uint32_t n = e.ee_data - e.ee_info + 1;  // a range of send calls, inclusive
      c->read++;
      c->calls += n;
      if (e.ee_code & SO_EE_CODE_ZEROCOPY_COPIED) c->copied += n;
      if (e.ee_data + 1 > c->done) c->done = e.ee_data + 1;
    }
  }
}

static int send_for(const char* ip, const char* port, double seconds, int zerocopy, int size, int segments, int batch, int ring) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int on = 1, big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
  if (zerocopy && setsockopt(fd, SOL_SOCKET, SO_ZEROCOPY, &on, sizeof on) < 0) die("SO_ZEROCOPY");
  int gso = size;
  if (segments > 1 && setsockopt(fd, SOL_UDP, UDP_SEGMENT, &gso, sizeof gso) < 0) die("UDP_SEGMENT");
  struct sockaddr_in a = address(ip, port);
  if (connect(fd, (struct sockaddr*)&a, sizeof a) < 0) die("connect");
  const size_t message = (size_t)size * segments;
  char* slab = aligned_alloc(4096, (message * batch * ring + 4095) / 4096 * 4096);
  memset(slab, 0x5a, message * batch * ring);
  struct mmsghdr* msgs = calloc(batch, sizeof *msgs);
  struct iovec* iovs = calloc(batch, sizeof *iovs);
  struct Completions c = {0};
  uint64_t bytes = 0, calls = 0, waits = 0, nobufs = 0;
  const double cpu0 = cpu(), t0 = now();
  double t = t0;
  for (uint64_t b = 0; (t = now()) < t0 + seconds; b++) {
    // With zero-copy, one sendmmsg of `batch` messages is `batch` send calls for the completions.
    while (zerocopy && calls - c.done >= (uint64_t)batch * (ring - 1)) {
      complete(fd, &c);
      if (calls - c.done < (uint64_t)batch * (ring - 1)) break;
      struct pollfd p = {.fd = fd, .events = 0};
      poll(&p, 1, 10);
      waits++;
    }
    char* base = slab + (b % ring) * message * batch;
    for (int k = 0; k < batch; k++) {
      iovs[k] = (struct iovec){base + k * message, message};
      memset(&msgs[k], 0, sizeof msgs[k]);
      msgs[k].msg_hdr.msg_iov = &iovs[k];
      msgs[k].msg_hdr.msg_iovlen = 1;
    }
    int n = sendmmsg(fd, msgs, batch, zerocopy ? MSG_ZEROCOPY : 0);
    if (n < 0) {
      if (errno == ENOBUFS) {  // optmem_max reached by pinned pages: wait for completions
        nobufs++;
        complete(fd, &c);
        continue;
      }
      if (errno == ECONNREFUSED) continue;
      die("sendmmsg");
    }
    calls += (uint64_t)n;
    for (int k = 0; k < n; k++) bytes += msgs[k].msg_len;
    if (zerocopy) complete(fd, &c);
  }
  const double elapsed = now() - t0, used = cpu() - cpu0;
  for (int i = 0; zerocopy && c.done < calls && i < 200; i++) {
    struct pollfd p = {.fd = fd, .events = 0};
    poll(&p, 1, 10);
    complete(fd, &c);
  }
  printf("{\"bytes\":%llu,\"seconds\":%.3f,\"cpuSeconds\":%.3f,\"calls\":%llu,\"completions\":%llu,\"completedCalls\":%llu,\"copiedCalls\":%llu,\"waits\":%llu,\"enobufs\":%llu}\n",
         (unsigned long long)bytes, elapsed, used, (unsigned long long)calls, (unsigned long long)c.read, (unsigned long long)c.calls,
         (unsigned long long)c.copied, (unsigned long long)waits, (unsigned long long)nobufs);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 5 && strcmp(argv[1], "recv") == 0) return receive(argv[2], argv[3], atof(argv[4]));
  if (argc == 10 && strcmp(argv[1], "send") == 0) {
    return send_for(argv[2], argv[3], atof(argv[4]), strcmp(argv[5], "zerocopy") == 0, atoi(argv[6]), atoi(argv[7]), atoi(argv[8]), atoi(argv[9]));
  }
  fprintf(stderr, "usage: zerocopy-send recv IP PORT SECONDS | send IP PORT SECONDS copy|zerocopy SIZE SEGMENTS BATCH RING\n");
  return 2;
}
