// Request/response over one TCP connection, as netperf's TCP_RR measures it: the client sends one
// byte, the server sends it back, the client sends the next one once the answer is in. Written
// here because netperf is not in Debian; two syscalls per side per transaction, nothing else, so
// that the tool is never what limits the rate (bench/compare.ts checks it on the plain-routing row).
//   tcp-rr server ADDRESS PORT            answers one connection until it closes
//   tcp-rr client ADDRESS PORT SECONDS    prints {"transactions":N,"seconds":S,"p50Us":X,"p99Us":Y}
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

// Transaction times in whole microseconds; the last bucket takes everything from 100 ms up.
#define BUCKETS 100001
static unsigned long histogram[BUCKETS];

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char* what) {
  perror(what);
  exit(1);
}

static struct addrinfo* resolve(const char* host, const char* port, int passive) {
  struct addrinfo hints = {0}, *ai;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  int err = getaddrinfo(host, port, &hints, &ai);
  if (err != 0) {
    fprintf(stderr, "%s:%s: %s\n", host, port, gai_strerror(err));
    exit(1);
  }
  return ai;
}

static void nodelay(int fd) {
  int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) die("TCP_NODELAY");
}

static int serve(const char* host, const char* port) {
  struct addrinfo* ai = resolve(host, port, 1);
  int ls = socket(ai->ai_family, SOCK_STREAM, 0);
  int one = 1;
  if (ls < 0) die("socket");
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(ls, ai->ai_addr, ai->ai_addrlen) < 0) die("bind");
  if (listen(ls, 1) < 0) die("listen");
  printf("listening\n");
  fflush(stdout);
  int fd = accept(ls, NULL, NULL);
  if (fd < 0) die("accept");
  nodelay(fd);
  char b;
  for (;;) {
    ssize_t n = read(fd, &b, 1);
    if (n == 0) return 0;
    if (n < 0) die("read");
    if (write(fd, &b, 1) != 1) die("write");
  }
}

static int request(const char* host, const char* port, double seconds) {
  struct addrinfo* ai = resolve(host, port, 0);
  int fd = socket(ai->ai_family, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) die("connect");
  nodelay(fd);
  char b = 'x';
  unsigned long transactions = 0;
  double start = now(), end = start + seconds, t = start;
  while (t < end) {
    if (write(fd, &b, 1) != 1) die("write");
    ssize_t n = read(fd, &b, 1);
    if (n != 1) die(n == 0 ? "read: closed by the server" : "read");
    double after = now();
    unsigned long us = (unsigned long)((after - t) * 1e6);
    histogram[us < BUCKETS ? us : BUCKETS - 1]++;
    transactions++;
    t = after;
  }
  close(fd);
  double p50 = -1, p99 = -1;
  unsigned long seen = 0;
  for (unsigned long us = 0; us < BUCKETS; us++) {
    seen += histogram[us];
    if (p50 < 0 && seen * 2 >= transactions) p50 = us;
    if (p99 < 0 && seen * 100 >= transactions * 99) p99 = us;
  }
  printf("{\"transactions\":%lu,\"seconds\":%.6f,\"p50Us\":%.0f,\"p99Us\":%.0f}\n", transactions, t - start, p50, p99);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 4 && strcmp(argv[1], "server") == 0) return serve(argv[2], argv[3]);
  if (argc == 5 && strcmp(argv[1], "client") == 0 && atof(argv[4]) > 0) return request(argv[2], argv[3], atof(argv[4]));
  fprintf(stderr, "usage: tcp-rr server ADDRESS PORT | tcp-rr client ADDRESS PORT SECONDS\n");
  return 2;
}
