// Wire-format constants shared by the codecs and the datapath.

/** The Linux kernel's default VXLAN port, and flannel's (RFC 7348 §5 assigns 4789; Linux predates it). */
export const VXLAN_PORT = 8472;
/** flannel's VNI for the IPv4 network. */
export const DEFAULT_VNI = 1;

export const ETH_HEADER_LEN = 14;
/** An IEEE 802.1Q tag between the source MAC and the EtherType. */
export const VLAN_TAG_LEN = 4;
export const VXLAN_HEADER_LEN = 8;
export const UDP_HEADER_LEN = 8;
export const IPV4_HEADER_MIN = 20;
export const IPV6_HEADER_LEN = 40;
export const MAC_LEN = 6;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;

/** What we write in front of an inner IP packet: VXLAN header + inner Ethernet header. */
export const ENCAP_LEN = VXLAN_HEADER_LEN + ETH_HEADER_LEN;
/** Outer IPv4 + UDP + VXLAN + inner Ethernet: why the overlay MTU is the underlay's minus 50. */
export const ENCAP_OVERHEAD_V4 = IPV4_HEADER_MIN + UDP_HEADER_LEN + ENCAP_LEN;
export const ENCAP_OVERHEAD_V6 = IPV6_HEADER_LEN + UDP_HEADER_LEN + ENCAP_LEN;

/** Bytes reserved before each packet in a slab slot, room for ENCAP_LEN with cache-line alignment. */
export const HEADROOM = 64;
