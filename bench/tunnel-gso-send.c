// Spike (issue 16): send each TSO packet read from a pod TUN as ONE tunnel-GSO packet, by writing
// outer Ethernet + IP + UDP + VXLAN + inner Ethernet in front of it into an egress TAP of the
// node's namespace with the UDP-tunnel vnet header of Linux 6.16+ (virtio_net_hdr_v1_hash_tunnel).
// The kernel forwards that frame to the underlay as one skb, as its own VXLAN device's output is.
// Replies (VXLAN datagrams to our underlay addresses) are received on plain UDP sockets and
// written to the pod TUN. Not the daemon: a measured experiment, driven by tunnel-gso-send.ts.
//   tunnel-gso-send POD_TUN EGRESS_TAP LOCAL4 REMOTE4 LOCAL6 REMOTE6 REMOTE_MAC4 REMOTE_MAC6 LOCAL_MAC4 LOCAL_MAC6
// Prints "ready <TUNSETOFFLOAD errno or 0>" once both devices exist, and on SIGTERM one JSON line
// of counters and its own CPU time.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
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
#include <unistd.h>

// include/uapi/linux/if_tun.h and virtio_net.h of Linux 6.16+ (Debian 12's headers predate them).
#define TUN_F_UDP_TUNNEL_GSO 0x080
#define TUN_F_UDP_TUNNEL_GSO_CSUM 0x100
#define VNET_F_NEEDS_CSUM 1
#define VNET_F_UDP_TUNNEL_CSUM 8
#define VNET_GSO_TCPV4 1
#define VNET_GSO_TCPV6 4
#define VNET_GSO_UDP_L4 5
#define VNET_GSO_UDP_TUNNEL_IPV4 0x20
#define VNET_GSO_UDP_TUNNEL_IPV6 0x40

struct vnet_hdr {  // struct virtio_net_hdr: what the pod TUN gives with each read
  uint8_t flags, gso_type;
  uint16_t hdr_len, gso_size, csum_start, csum_offset;
};
struct vnet_tnl_hdr {  // struct virtio_net_hdr_v1_hash_tunnel (24 bytes; offsets from the outer MAC header)
  uint8_t flags, gso_type;
  uint16_t hdr_len, gso_size, csum_start, csum_offset, num_buffers;
  uint16_t hash_value_lo, hash_value_hi, hash_report, padding;
  uint16_t outer_th_offset, inner_nh_offset;
};
_Static_assert(sizeof(struct vnet_tnl_hdr) == 24, "virtio_net_hdr_v1_hash_tunnel is 24 bytes");

enum { ETH = 14, UDP = 8, VXLAN = 8, PORT = 8472 };
enum { PREFIX = sizeof(struct vnet_tnl_hdr) + ETH + 40 + UDP + VXLAN + ETH };  // room for the widest front
enum { BUF = PREFIX + 65536 + 64 };

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

static int open_tun(const char *name, int flags, int vnet_size) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
  if (fd < 0) { perror("open /dev/net/tun"); exit(1); }
  struct ifreq ifr = {0};
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
  ifr.ifr_flags = flags | IFF_NO_PI | IFF_VNET_HDR;
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) { perror("TUNSETIFF"); exit(1); }
  if (ioctl(fd, TUNSETVNETHDRSZ, &vnet_size) < 0) { perror("TUNSETVNETHDRSZ"); exit(1); }
  return fd;
}

static int parse_mac(const char *s, uint8_t *mac) {
  return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) == 6;
}

static uint64_t sum16(const uint8_t *p, size_t n, uint64_t s) {
  for (; n > 1; p += 2, n -= 2) s += (uint32_t)(p[0] << 8 | p[1]);
  if (n) s += (uint32_t)(p[0] << 8);
  return s;
}
static uint16_t fold(uint64_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)s;
}
static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }

static int udp_socket(int family, const char *addr) {
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  struct sockaddr_storage ss = {0};
  socklen_t len;
  if (family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET; a->sin_port = htons(PORT); inet_pton(AF_INET, addr, &a->sin_addr); len = sizeof *a;
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6; a->sin6_port = htons(PORT); inet_pton(AF_INET6, addr, &a->sin6_addr); len = sizeof *a;
  }
  if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0) { perror("bind"); exit(1); }
  return fd;
}

int main(int argc, char **argv) {
  if (argc != 11) { fprintf(stderr, "usage: see the file's head\n"); return 2; }
  uint8_t local4[4], remote4[4], local6[16], remote6[16], rmac4[6], rmac6[6], lmac4[6], lmac6[6], tapmac[6];
  if (inet_pton(AF_INET, argv[3], local4) != 1 || inet_pton(AF_INET, argv[4], remote4) != 1 ||
      inet_pton(AF_INET6, argv[5], local6) != 1 || inet_pton(AF_INET6, argv[6], remote6) != 1 ||
      !parse_mac(argv[7], rmac4) || !parse_mac(argv[8], rmac6) || !parse_mac(argv[9], lmac4) || !parse_mac(argv[10], lmac6)) {
    fprintf(stderr, "bad address\n"); return 2;
  }
  int pod = open_tun(argv[1], IFF_TUN, sizeof(struct vnet_hdr));
  unsigned pod_offload = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
  if (ioctl(pod, TUNSETOFFLOAD, pod_offload) < 0) { perror("TUNSETOFFLOAD pod"); return 1; }
  int tap = open_tun(argv[2], IFF_TAP, sizeof(struct vnet_tnl_hdr));
  // On the write side the kernel accepts tunnel GSO from the header size alone
  // (tun_vnet_hdr_guest_features); the offload flags are for what it may hand us to read.
  unsigned tap_offload = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_UDP_TUNNEL_GSO | TUN_F_UDP_TUNNEL_GSO_CSUM;
  int offload_errno = ioctl(tap, TUNSETOFFLOAD, tap_offload) < 0 ? errno : 0;
  struct ifreq ifr = {0};
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", argv[2]);
  int ctl = socket(AF_INET, SOCK_DGRAM, 0);
  if (ioctl(ctl, SIOCGIFHWADDR, &ifr) < 0) { perror("SIOCGIFHWADDR"); return 1; }
  memcpy(tapmac, ifr.ifr_hwaddr.sa_data, 6);
  close(ctl);
  int u4 = udp_socket(AF_INET, argv[3]), u6 = udp_socket(AF_INET6, argv[5]);
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  printf("ready %d\n", offload_errno);
  fflush(stdout);

  static uint8_t buf[BUF];
  uint64_t tso_writes = 0, tso_bytes = 0, plain_writes = 0, write_errors = 0, too_long = 0, decapsulated = 0, bytes = 0;
  int last_errno = 0;
  uint16_t ip_id = 0;
  struct pollfd fds[3] = {{pod, POLLIN, 0}, {u4, POLLIN, 0}, {u6, POLLIN, 0}};
  while (!stop) {
    if (poll(fds, 3, -1) < 0) continue;
    for (;;) {  // pod → peer: one write per packet read, whatever its size
      ssize_t n = read(pod, buf + PREFIX - sizeof(struct vnet_hdr), BUF - PREFIX + sizeof(struct vnet_hdr));
      if (n < 0) break;
      if ((size_t)n < sizeof(struct vnet_hdr) + 20) continue;
      struct vnet_hdr v;
      memcpy(&v, buf + PREFIX - sizeof v, sizeof v);
      size_t len = (size_t)n - sizeof v;
      uint8_t *ip = buf + PREFIX;
      if (ip[0] >> 4 != 4 && ip[0] >> 4 != 6) continue;
      // The kernel's offsets, checked before use: the checksum field inside the packet.
      if ((v.flags & VNET_F_NEEDS_CSUM) && (size_t)v.csum_start + v.csum_offset + 2 > len) continue;
      int inner6 = ip[0] >> 4 == 6, outer6 = inner6;
      size_t outer_ip = outer6 ? 40 : 20, front = ETH + outer_ip + UDP + VXLAN + ETH;
      size_t udp_len = UDP + VXLAN + ETH + len;
      if (udp_len > 65535 - (outer6 ? 0 : 20)) { too_long++; continue; }
      uint8_t *frame = ip - front, *o = frame + ETH, *u = o + outer_ip, *x = u + UDP, *e = x + VXLAN;
      memcpy(e, inner6 ? rmac6 : rmac4, 6);
      memcpy(e + 6, inner6 ? lmac6 : lmac4, 6);
      put16(e + 12, inner6 ? 0x86dd : 0x0800);
      memset(x, 0, VXLAN);
      x[0] = 0x08;  // RFC 7348 §5: I flag, VNI 1
      x[6] = 1;
      // The source port of the inner flow: addresses and ports folded, in the kernel's local range.
      size_t addr_off = inner6 ? 8 : 12, addr_len = inner6 ? 32 : 8, l4 = inner6 ? 40 : (size_t)(ip[0] & 15) * 4;
      uint64_t h = sum16(ip + addr_off, addr_len, len >= l4 + 4 ? sum16(ip + l4, 4, 0) : 0);
      put16(u, (uint16_t)(32768 + fold(h * 2654435761u) % 28232));
      put16(u + 2, PORT);
      put16(u + 4, (uint16_t)udp_len);
      put16(u + 6, 0);
      if (outer6) {
        memset(o, 0, 8);
        o[0] = 0x60;
        put16(o + 4, (uint16_t)udp_len);
        o[6] = 17;
        o[7] = 65;  // one more than the kernel's 64: our own forwarding takes one
        memcpy(o + 8, local6, 16);
        memcpy(o + 24, remote6, 16);
      } else {
        o[0] = 0x45; o[1] = 0;
        put16(o + 2, (uint16_t)(20 + udp_len));
        put16(o + 4, ip_id++);
        put16(o + 6, 0);
        o[8] = 65; o[9] = 17;
        put16(o + 10, 0);
        memcpy(o + 12, local4, 4);
        memcpy(o + 16, remote4, 4);
        put16(o + 10, (uint16_t)~fold(sum16(o, 20, 0)));
      }
      memcpy(frame, tapmac, 6);
      memcpy(frame + 6, lmac4, 6);
      put16(frame + 12, outer6 ? 0x86dd : 0x0800);
      struct vnet_tnl_hdr t = {0};
      uint64_t pseudo6 = outer6 ? sum16(o + 8, 32, 17 + udp_len) : 0;
      if (v.gso_type == VNET_GSO_TCPV4 || v.gso_type == VNET_GSO_TCPV6 || v.gso_type == VNET_GSO_UDP_L4) {
        t.flags = VNET_F_NEEDS_CSUM | (outer6 ? VNET_F_UDP_TUNNEL_CSUM : 0);
        t.gso_type = v.gso_type | (outer6 ? VNET_GSO_UDP_TUNNEL_IPV6 : VNET_GSO_UDP_TUNNEL_IPV4);
        t.gso_size = v.gso_size;
        t.hdr_len = (uint16_t)(v.hdr_len + front);
        t.csum_start = (uint16_t)(v.csum_start + front);
        t.csum_offset = v.csum_offset;
        t.outer_th_offset = (uint16_t)(ETH + outer_ip);
        t.inner_nh_offset = (uint16_t)(front);
        // With the _CSUM variant the segmentation starts each segment's sum from the pseudo-header
        // sum (udp6_set_csum for GSO: ~csum_ipv6_magic(..., 0)).
        if (outer6) put16(u + 6, fold(pseudo6));
      } else if (v.flags & VNET_F_NEEDS_CSUM) {
        t.flags = VNET_F_NEEDS_CSUM;
        t.csum_start = (uint16_t)(v.csum_start + front);
        t.csum_offset = v.csum_offset;
        t.hdr_len = (uint16_t)(t.csum_start + t.csum_offset + 2);
        if (outer6) {  // local checksum offload (Documentation/networking/checksum-offloads.rst, LCO)
          uint16_t inner_field = (uint16_t)(ip[v.csum_start + v.csum_offset] << 8 | ip[v.csum_start + v.csum_offset + 1]);
          uint64_t s = sum16(u, (size_t)(ip + v.csum_start - u), pseudo6 + (uint16_t)~inner_field);
          uint16_t c = (uint16_t)~fold(s);
          put16(u + 6, c ? c : 0xffff);
        }
      } else if (outer6) {
        uint16_t c = (uint16_t)~fold(sum16(u, udp_len, pseudo6));
        put16(u + 6, c ? c : 0xffff);
      }
      uint8_t *out = frame - sizeof t;
      memcpy(out, &t, sizeof t);
      if (write(tap, out, sizeof t + ETH + outer_ip + udp_len) < 0) {
        write_errors++;
        last_errno = errno;
      } else if (t.gso_type) {
        tso_writes++;
        tso_bytes += len;
      } else {
        plain_writes++;
      }
      bytes += len;
    }
    for (int k = 1; k < 3; k++) {  // peer → pod: decapsulate each datagram into one TUN write
      for (;;) {
        ssize_t n = recv(fds[k].fd, buf + PREFIX, BUF - PREFIX, 0);
        if (n < 0) break;
        if (n < VXLAN + ETH + 20 || !(buf[PREFIX] & 0x08)) continue;
        uint8_t *ip = buf + PREFIX + VXLAN + ETH;
        // A kernel peer with offloads on sends its checksums unfinished (CHECKSUM_PARTIAL across
        // the veth): hand them to the TUN as partial, which local delivery and forwarding accept.
        struct vnet_hdr v = {0};
        size_t l4 = ip[0] >> 4 == 6 ? 40 : (size_t)(ip[0] & 15) * 4;
        uint8_t proto = ip[0] >> 4 == 6 ? ip[6] : ip[9];
        if ((proto == 6 || proto == 17) && l4 >= 20 && l4 + 20 <= (size_t)n - VXLAN - ETH) {
          v.flags = VNET_F_NEEDS_CSUM;
          v.csum_start = (uint16_t)l4;
          v.csum_offset = proto == 6 ? 16 : 6;
        }
        memcpy(ip - sizeof v, &v, sizeof v);
        if (write(pod, ip - sizeof v, (size_t)n - VXLAN - ETH + sizeof v) < 0) { write_errors++; last_errno = errno; }
        decapsulated++;
      }
    }
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("{\"tsoWrites\":%llu,\"tsoBytes\":%llu,\"plainWrites\":%llu,\"writeErrors\":%llu,\"lastErrno\":%d,\"tooLong\":%llu,"
         "\"decapsulated\":%llu,\"bytes\":%llu,\"cpuUser\":%.3f,\"cpuSystem\":%.3f}\n",
         (unsigned long long)tso_writes, (unsigned long long)tso_bytes, (unsigned long long)plain_writes,
         (unsigned long long)write_errors, last_errno, (unsigned long long)too_long, (unsigned long long)decapsulated,
         (unsigned long long)bytes, ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6, ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
  return 0;
}
