// A connection's protocol state and how long it may stay idle in it: nf_conntrack's defaults
// (net/netfilter/nf_conntrack_proto_{tcp,udp,icmp,generic}.c), folded into four states.
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../../packet/constants.js';
import { IPPROTO_SCTP, TCP_FIN, TCP_RST } from '../../packet/flow-tuple.js';

/** Only the initiator has sent (TCP: SYN_SENT; UDP/SCTP: unreplied). */
export const CT_NEW = 0;
/** Both sides have sent (TCP: established; UDP/SCTP: replied). */
export const CT_REPLIED = 1;
/** TCP: a FIN was seen (FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT). */
export const CT_CLOSING = 2;
/** TCP: a RST was seen. */
export const CT_CLOSED = 3;
/** The first fragment of a datagram was allowed: its later fragments follow (an entry of its own kind). */
export const CT_FRAGMENTS = 4;

const S = 1000;
/** Idle timeouts in ms, per state; nf_conntrack's values where it has one. */
export const Timeouts = Object.freeze({
  tcpNew: 120 * S, // nf_conntrack_tcp_timeout_syn_sent
  tcpEstablished: 5 * 24 * 3600 * S, // nf_conntrack_tcp_timeout_established (5 days)
  tcpClosing: 120 * S, // fin_wait / time_wait
  tcpClosed: 10 * S, // nf_conntrack_tcp_timeout_close
  udpNew: 30 * S, // nf_conntrack_udp_timeout
  udpReplied: 120 * S, // nf_conntrack_udp_timeout_stream
  icmp: 30 * S, // nf_conntrack_icmp_timeout, echo flows
  generic: 600 * S, // nf_conntrack_generic_timeout, protocols without ports
  fragments: 30 * S, // ipfrag_time: how long a datagram's fragments may take
});

/** How long an entry of `protocol` in `state` may stay idle, in ms. */
export function timeoutOf(protocol: number, state: number): number {
  if (state === CT_FRAGMENTS) return Timeouts.fragments;
  if (protocol === IPPROTO_TCP) {
    if (state === CT_NEW) return Timeouts.tcpNew;
    if (state === CT_REPLIED) return Timeouts.tcpEstablished;
    return state === CT_CLOSING ? Timeouts.tcpClosing : Timeouts.tcpClosed;
  }
  if (protocol === IPPROTO_ICMP || protocol === IPPROTO_ICMPV6) return Timeouts.icmp;
  if (protocol === IPPROTO_UDP || protocol === IPPROTO_SCTP) return state === CT_NEW ? Timeouts.udpNew : Timeouts.udpReplied; // SCTP as UDP
  return Timeouts.generic;
}

/** The state after a packet from the initiator (or not), with `tcpFlags` for TCP. */
export function nextState(protocol: number, state: number, fromInitiator: boolean, tcpFlags: number): number {
  if (protocol === IPPROTO_TCP) {
    if ((tcpFlags & TCP_RST) !== 0) return CT_CLOSED;
    if (state === CT_CLOSED) return CT_CLOSED;
    if ((tcpFlags & TCP_FIN) !== 0 || state === CT_CLOSING) return CT_CLOSING;
  }
  return state === CT_NEW && !fromInitiator ? CT_REPLIED : state;
}
