// Every reason the datapath drops a packet for. Adding a reason is one line here.
const reasons = {
  truncated: 'frame or inner packet shorter than its headers say',
  runt: 'switch mode: Ethernet frame shorter than its 14-byte header',
  bad_src_mac: 'switch mode: source MAC is a group or all-zero address, never a station\'s',
  bad_vxlan_flags: 'VXLAN I flag clear (RFC 7348 §5)',
  wrong_vni: 'VXLAN network identifier is not ours',
  unknown_source: 'VXLAN datagram from an address that is no known peer',
  wrong_dst_mac: 'inner destination MAC is not our VTEP MAC',
  bad_ethertype: 'inner frame carries neither IPv4 nor IPv6',
  malformed_inner: 'inner IP header is invalid',
  no_route: 'no node owns the destination address',
  multicast: 'multicast destination: the overlay carries unicast only (e.g. MLD reports of the host)',
  no_peer: 'switch mode: a frame to flood, and no peer node to send it to',
  oversize: 'packet larger than the underlay can carry',
  oversize_datagram: 'VXLAN datagram from a peer larger than a receive slot that is no TCP packet we can cut into segments: a kernel peer across a veth with tx offload on sends its UDP GSO packets unsegmented (fix on the sender: ethtool -K <underlay> tx off), or a malformed one',
  bad_vnet_hdr: 'TUN/TAP read whose virtio_net_hdr disagrees with its packet (flags, csum_start/csum_offset, hdr_len)',
  bad_gso: 'GSO packet from the TUN/TAP that cannot be cut as asked (GSO type, gso_size 0 or above a slot, an IP fragment, not TCP for TSO or UDP for USO)',
  bad_tso_headers: 'TSO or USO packet from the TUN/TAP whose IP header or total length, TCP data offset or UDP length disagrees with what was read',
  tun_write_error: 'the TUN device refused the packet',
  socket_error: 'the UDP socket refused the datagram',
  policy_denied_egress: 'NetworkPolicy: the source pod is isolated for egress and no egress rule allows the connection',
  policy_denied_ingress: 'NetworkPolicy: the destination pod is isolated for ingress and no ingress rule allows the connection',
  policy_unrelated: 'NetworkPolicy: an ICMP error quoting no known connection, or a later IP fragment whose first fragment was not allowed (or not seen)',
  policy_untrackable: 'NetworkPolicy: a packet whose flow cannot be named (its transport header, or an ICMP error\'s quote, cut short or malformed)',
  spoofed_source: 'inner source address outside the pod CIDRs of the peer node that sent the datagram',
} as const;

export type DropReason = keyof typeof reasons;

export const DROP_REASONS = Object.keys(reasons) as DropReason[];

export const DROP_HELP: Readonly<Record<DropReason, string>> = reasons;

/** Counter slot of each reason, for the hot path: `Drop.no_route`. */
export const Drop = Object.freeze(Object.fromEntries(DROP_REASONS.map((r, i) => [r, i]))) as {
  readonly [K in DropReason]: number;
};
