// Finishing what skb_checksum_help would have finished on the sender: the sum of the L4 data
// added to the pseudo-header sum already in the field (RFC 1071), only when the field holds
// exactly that sum and the checksum as it stands is wrong.
#include "partial_checksum.h"

#include "big_endian.h"
#include "ethernet_header.h"
#include "internet_checksum.h"
#include "virtio_net_hdr.h"

#include <netinet/in.h>

namespace vxroute {

bool FinishPartialChecksum(uint8_t* frame, uint32_t len, bool ethernet) {
  uint32_t l2 = 0;
  uint16_t type;
  if (ethernet && (!EthernetHeader(frame, len, &l2, &type) || (type != kEtherTypeIpv4 && type != kEtherTypeIpv6))) return false;
  if (len < l2 + 20) return false;
  uint8_t* ip = frame + l2;
  const uint32_t ipLen = len - l2;
  uint32_t iphl, l4Length;
  uint8_t proto;
  uint64_t pseudo;
  if (ip[0] >> 4 == 4) {
    // RFC 791: a whole datagram (no fragment), its lengths inside what we hold.
    iphl = (ip[0] & 0x0fu) * 4;
    const uint32_t total = Be16(ip + 2);
    if (iphl < 20 || total > ipLen || total < iphl || (ip[6] & 0x3f) != 0 || ip[7] != 0) return false;
    proto = ip[9];
    l4Length = total - iphl;
    pseudo = SumBigEndian(ip + 12, 8, 0);
  } else if (ip[0] >> 4 == 6) {
    // RFC 8200 §8.1: TCP or UDP right after the fixed header.
    if (ipLen < 40 || Be16(ip + 4) + 40u > ipLen) return false;
    iphl = 40;
    proto = ip[6];
    l4Length = Be16(ip + 4);
    pseudo = SumBigEndian(ip + 8, 32, 0);
  } else {
    return false;
  }
  uint32_t field;
  if (proto == IPPROTO_TCP) field = kTcpCsumOffset;
  else if (proto == IPPROTO_UDP) field = kUdpCsumOffset;
  else return false;
  if (field + 2 > l4Length) return false;
  uint8_t* l4 = ip + iphl;
  const uint32_t stored = Be16(l4 + field);
  if (proto == IPPROTO_UDP && stored == 0) return false;  // IPv4 UDP sent without a checksum (RFC 768)
  pseudo += proto + l4Length;
  if (stored != FoldSum(pseudo)) return false;
  if (FoldSum(SumBigEndian(l4, l4Length, pseudo)) == 0xffff) return false;  // already right
  l4[field] = l4[field + 1] = 0;
  const uint32_t sum = ~FoldSum(SumBigEndian(l4, l4Length, pseudo)) & 0xffff;
  PutBe16(l4 + field, sum == 0 && proto == IPPROTO_UDP ? 0xffff : sum);
  return true;
}

}  // namespace vxroute
