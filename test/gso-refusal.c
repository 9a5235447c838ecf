// Test bed only: stands in for a kernel that refuses UDP GSO with EIO. Before Linux 6.11 a device
// without transmit checksum offload did (`ethtool -K <dev> tx off`); an IPsec (xfrm) route still
// does. This machine's kernel segments in software instead, so the tests preload this into the
// process under test (LD_PRELOAD). While the file named by $VXROUTE_TEST_GSO_REFUSE holds an
// address family ("4", "6" or "46"), a sendmmsg message to that family carrying a UDP_SEGMENT cmsg
// fails as udp_send_skb fails it: the messages before it are sent and counted, and the call that
// starts with it returns -1 with errno EIO. Everything else goes to the real sendmmsg.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SOL_UDP_LEVEL 17  /* IPPROTO_UDP */
#define UDP_SEGMENT_TYPE 103

typedef int (*sendmmsg_fn)(int, struct mmsghdr *, unsigned int, int);

/* The families refused now, read from the control file at each call; "" when it is absent. */
static void refused_families(char *out, size_t cap) {
  out[0] = '\0';
  const char *path = getenv("VXROUTE_TEST_GSO_REFUSE");
  if (path == NULL) return;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, out, cap - 1);
  close(fd);
  out[n > 0 ? n : 0] = '\0';
}

static int refused(const struct msghdr *m, const char *families) {
  if (m->msg_name == NULL || m->msg_namelen < sizeof(sa_family_t)) return 0;
  sa_family_t family = ((const struct sockaddr *)m->msg_name)->sa_family;
  if (!strchr(families, family == AF_INET ? '4' : family == AF_INET6 ? '6' : '?')) return 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR((struct msghdr *)m, c)) {
    if (c->cmsg_level == SOL_UDP_LEVEL && c->cmsg_type == UDP_SEGMENT_TYPE) return 1;
  }
  return 0;
}

int sendmmsg(int fd, struct mmsghdr *msgs, unsigned int vlen, int flags) {
  static sendmmsg_fn real;
  if (real == NULL) real = (sendmmsg_fn)dlsym(RTLD_NEXT, "sendmmsg");
  char families[8];
  refused_families(families, sizeof families);
  if (families[0] != '\0') {
    for (unsigned int i = 0; i < vlen; i++) {
      if (!refused(&msgs[i].msg_hdr, families)) continue;
      if (i == 0) {
        errno = EIO;
        return -1;
      }
      return real(fd, msgs, i, flags);
    }
  }
  return real(fd, msgs, vlen, flags);
}
