// Request/response over one TCP connection, as netperf's TCP_RR measures it: the client sends one
// byte, the server sends it back, the client sends the next one once the answer is in. Written
// here because netperf is not in Debian; two syscalls per side per transaction, nothing else, so
// that the tool is never what limits the rate (bench/compare.ts checks it on the plain-routing row).
//   tcp-rr server ADDRESS PORT            answers one connection until it closes
//   tcp-rr client ADDRESS PORT SECONDS    prints {"transactions":N,"seconds":S,"p50Us":X,"p99Us":Y}
// And the first packet of new connections (netperf's TCP_CC without the close's round trip): the
// client opens COUNT connections one after the other, each from a new source port, and times
// connect(), i.e. the SYN out and the SYN-ACK back; it ends each with a reset (no TIME_WAIT).
//   tcp-rr accept-server ADDRESS PORT     accepts and closes connections until killed
//   tcp-rr connect-client ADDRESS PORT COUNT  prints {"connects":N,"p50Us":X,"p99Us":Y}
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

static int listening(const char* host, const char* port, int backlog) {
  struct addrinfo* ai = resolve(host, port, 1);
  int ls = socket(ai->ai_family, SOCK_STREAM, 0);
  int one = 1;
  if (ls < 0) die("socket");
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(ls, ai->ai_addr, ai->ai_addrlen) < 0) die("bind");
  if (listen(ls, backlog) < 0) die("listen");
  printf("listening\n");
  fflush(stdout);
  return ls;
}

/** The median and 99th percentile of the histogram's `count` entries, in microseconds. */
static void percentiles(unsigned long count, double* p50, double* p99) {
  unsigned long seen = 0;
  *p50 = -1;
  *p99 = -1;
  for (unsigned long us = 0; us < BUCKETS; us++) {
    seen += histogram[us];
    if (*p50 < 0 && seen * 2 >= count) *p50 = us;
    if (*p99 < 0 && seen * 100 >= count * 99) *p99 = us;
  }
}

static void record(double seconds) {
  unsigned long us = (unsigned long)(seconds * 1e6);
  histogram[us < BUCKETS ? us : BUCKETS - 1]++;
}

static int serve(const char* host, const char* port) {
  int ls = listening(host, port, 1);
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
    record(after - t);
    transactions++;
    t = after;
  }
  close(fd);
  double p50, p99;
  percentiles(transactions, &p50, &p99);
  printf("{\"transactions\":%lu,\"seconds\":%.6f,\"p50Us\":%.0f,\"p99Us\":%.0f}\n", transactions, t - start, p50, p99);
  return 0;
}

static _Noreturn void acceptClose(const char* host, const char* port) {
  int ls = listening(host, port, 128);
  for (;;) {
    int fd = accept(ls, NULL, NULL);
    if (fd >= 0) close(fd); // a connection the client reset before it was accepted fails here: next one
  }
}

static int connects(const char* host, const char* port, unsigned long count) {
  struct addrinfo* ai = resolve(host, port, 0);
  struct linger reset = {1, 0};
  for (unsigned long i = 0; i < count; i++) {
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    double before = now();
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) die("connect");
    record(now() - before);
    if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset) < 0) die("SO_LINGER");
    close(fd);
  }
  double p50, p99;
  percentiles(count, &p50, &p99);
  printf("{\"connects\":%lu,\"p50Us\":%.0f,\"p99Us\":%.0f}\n", count, p50, p99);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 4 && strcmp(argv[1], "server") == 0) return serve(argv[2], argv[3]);
  if (argc == 5 && strcmp(argv[1], "client") == 0 && atof(argv[4]) > 0) return request(argv[2], argv[3], atof(argv[4]));
  if (argc == 4 && strcmp(argv[1], "accept-server") == 0) acceptClose(argv[2], argv[3]);
  if (argc == 5 && strcmp(argv[1], "connect-client") == 0 && atol(argv[4]) > 0) return connects(argv[2], argv[3], (unsigned long)atol(argv[4]));
  fprintf(stderr, "usage: tcp-rr server ADDRESS PORT | tcp-rr client ADDRESS PORT SECONDS | tcp-rr accept-server ADDRESS PORT | tcp-rr connect-client ADDRESS PORT COUNT\n");
  return 2;
}
