// UDP as a pod sends it with UDP_SEGMENT (UDP GSO, Linux 4.18): each sendmsg hands the kernel
// PER_SEND datagrams of SIZE bytes as one buffer, which reaches a TUN with USO whole. Written here
// because neither iperf3 nor Node's dgram send with UDP_SEGMENT. Datagram i carries i (4 bytes,
// big-endian) and then byte k = (i * 31 + k) & 0xff, so the receiver checks each one.
//   udp-segment send ADDRESS PORT SIZE PER_SEND COUNT     sends COUNT datagrams, prints {"sent":N}
//   udp-segment blast ADDRESS PORT SIZE PER_SEND SECONDS  sends as fast as it can for SECONDS
//   udp-segment receive ADDRESS PORT SIZE COUNT WINDOW_MS prints "listening", then
//     {"received":N,"intact":M,"seconds":S} once COUNT arrived or none came for WINDOW_MS
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103  // include/uapi/linux/udp.h (Linux 4.18)
#endif

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void fill(unsigned char* b, unsigned long i, int size) {
  for (int k = 0; k < size; k++) b[k] = (unsigned char)((i * 31 + k) & 0xff);
  b[0] = (unsigned char)(i >> 24), b[1] = (unsigned char)(i >> 16), b[2] = (unsigned char)(i >> 8), b[3] = (unsigned char)i;
}

static int address(const char* host, int port, struct sockaddr_storage* sa, socklen_t* len) {
  memset(sa, 0, sizeof *sa);
  struct sockaddr_in* v4 = (struct sockaddr_in*)sa;
  struct sockaddr_in6* v6 = (struct sockaddr_in6*)sa;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET, v4->sin_port = htons(port), *len = sizeof *v4;
    return AF_INET;
  }
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6, v6->sin6_port = htons(port), *len = sizeof *v6;
    return AF_INET6;
  }
  fprintf(stderr, "udp-segment: %s is no IPv4 or IPv6 address\n", host);
  exit(2);
}

static int sender(const char* host, int port, int size, int perSend, unsigned long count, double seconds) {
  struct sockaddr_storage sa;
  socklen_t salen;
  int fd = socket(address(host, port, &sa, &salen), SOCK_DGRAM, 0);
  int gso = size;
  if (fd < 0 || connect(fd, (struct sockaddr*)&sa, salen) < 0 || setsockopt(fd, SOL_UDP, UDP_SEGMENT, &gso, sizeof gso) < 0) {
    perror("udp-segment send");
    return 1;
  }
  unsigned char* buf = malloc((size_t)size * perSend);
  unsigned long sent = 0;
  const double end = now() + seconds;
  while (seconds > 0 ? now() < end : sent < count) {
    int n = perSend;
    if (seconds == 0 && count - sent < (unsigned long)n) n = (int)(count - sent);
    for (int j = 0; j < n; j++) fill(buf + (size_t)j * size, sent + j, size);
    if (send(fd, buf, (size_t)size * n, 0) < 0) {
      if (errno == ENOBUFS || errno == EAGAIN || errno == ECONNREFUSED) continue;
      perror("udp-segment send");
      return 1;
    }
    sent += n;
  }
  printf("{\"sent\":%lu}\n", sent);
  return 0;
}

static int receiver(const char* host, int port, int size, unsigned long count, int windowMs) {
  struct sockaddr_storage sa;
  socklen_t salen;
  int fd = socket(address(host, port, &sa, &salen), SOCK_DGRAM, 0);
  int rcvbuf = 16 << 20;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0 || bind(fd, (struct sockaddr*)&sa, salen) < 0) {
    perror("udp-segment receive");
    return 1;
  }
  printf("listening\n");
  fflush(stdout);
  unsigned char* got = malloc(65536);
  unsigned char* want = malloc(size);
  unsigned long received = 0, intact = 0;
  double first = 0, last = 0;
  struct pollfd p = {fd, POLLIN, 0};
  // The first datagram may take the sender's start-up; after it, WINDOW_MS without one ends the count.
  while (received < count && poll(&p, 1, received == 0 ? 20000 : windowMs) > 0) {
    ssize_t r = recv(fd, got, 65536, 0);
    if (r < 0) continue;
    last = now();
    if (received++ == 0) first = last;
    if (r != size) continue;
    unsigned long i = ((unsigned long)got[0] << 24) | (got[1] << 16) | (got[2] << 8) | got[3];
    fill(want, i, size);
    if (memcmp(got, want, size) == 0) intact++;
  }
  printf("{\"received\":%lu,\"intact\":%lu,\"seconds\":%.6f}\n", received, intact, last - first);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 7 && strcmp(argv[1], "send") == 0) return sender(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), strtoul(argv[6], 0, 10), 0);
  if (argc == 7 && strcmp(argv[1], "blast") == 0) return sender(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), 0, atof(argv[6]));
  if (argc == 7 && strcmp(argv[1], "receive") == 0) return receiver(argv[2], atoi(argv[3]), atoi(argv[4]), strtoul(argv[5], 0, 10), atoi(argv[6]));
  fprintf(stderr, "usage: udp-segment send|blast ADDRESS PORT SIZE PER_SEND COUNT|SECONDS, or receive ADDRESS PORT SIZE COUNT WINDOW_MS\n");
  return 2;
}
