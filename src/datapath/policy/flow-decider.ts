// What the datapath asks NetworkPolicy on the first packet of a flow (and again when the policy
// has changed since the flow was decided). Implemented over shared memory by the compiled
// policy; the datapath keeps the answer in its connection table.

export const FLOW_ALLOW = 0;
/** The source pod is isolated for egress and none of its egress rules allows the flow. */
export const FLOW_DENY_EGRESS = 1;
/** The destination pod is isolated for ingress and none of its ingress rules allows the flow. */
export const FLOW_DENY_INGRESS = 2;

/** A flow's first packet as the policy sees it; addresses are 16 bytes, IPv4 as ::ffff:a.b.c.d. */
export interface FlowQuery {
  src: Uint8Array;
  dst: Uint8Array;
  /** IP protocol number: 6 TCP, 17 UDP, 132 SCTP; others (ICMP) have no port. */
  protocol: number;
  dstPort: number;
}

export interface FlowDecider {
  /** Changes whenever the policy does: a flow decided under another generation is decided again. */
  generation(): number;
  /** FLOW_ALLOW or FLOW_DENY_*. Allocates nothing. */
  decide(q: FlowQuery): number;
  /** After decide(): index of the policy that decided (the rule's policy for an allow, the first policy isolating the pod for a deny), -1 for none. */
  reason(): number;
}
