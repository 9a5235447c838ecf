// The reference semantics of networking.k8s.io/v1 NetworkPolicy, written plainly from the API
// (slow: it walks every policy). The compiled form must agree with it on every flow; the
// differential property test holds them to that.
//
// A flow from S to D on (protocol, port) is allowed when
// - S is no pod, or no policy isolates S for egress, or an egress rule of a policy selecting S
//   matches (D as the peer, the port resolved on D), and
// - D is no pod, or no policy isolates D for ingress, or S is an address of D's own node, or an
//   ingress rule of a policy selecting D matches (S as the peer, the port resolved on D).
// A rule matches when it is valid, one of its peers names the other side (every side when it
// has none) and one of its ports matches (every port and protocol when it has none).
import { FLOW_ALLOW, FLOW_DENY_EGRESS, FLOW_DENY_INGRESS } from '../datapath/policy/flow-decider.js';
import { prefixContains } from './mapped-address.js';
import type { Direction, ParsedPeer, ParsedPolicy, ParsedPort, ParsedRule } from './parsed-policy.js';
import type { PolicyIndex } from './policy-index.js';
import type { PolicyProtocol } from './world.js';

export const PROTOCOL_NUMBERS: Record<PolicyProtocol, number> = { TCP: 6, UDP: 17, SCTP: 132 };

export interface FlowVerdict {
  /** FLOW_ALLOW, FLOW_DENY_EGRESS or FLOW_DENY_INGRESS. */
  verdict: number;
  /**
   * The policy (index in world.policies) that decided: for an allow, the first policy whose rule
   * allowed the ingress (or, when the destination is not ingress-isolated, the egress); for a
   * deny, the first policy isolating the pod in that direction. -1 when none did.
   */
  policy: number;
}

export function referenceDecide(index: PolicyIndex, src: Uint8Array, dst: Uint8Array, protocol: number, dstPort: number): FlowVerdict {
  const srcPod = index.podAt(src);
  const dstPod = index.podAt(dst);
  let allowedBy = -1;
  if (srcPod >= 0) {
    const side = decideSide(index, 'egress', srcPod, dst, dstPod, protocol, dstPort, dstPod);
    if (side.isolatedBy >= 0 && side.allowedBy < 0) return { verdict: FLOW_DENY_EGRESS, policy: side.isolatedBy };
    allowedBy = side.allowedBy;
  }
  if (dstPod >= 0) {
    const side = decideSide(index, 'ingress', dstPod, src, srcPod, protocol, dstPort, dstPod);
    if (side.isolatedBy >= 0) {
      const node = index.podNode(dstPod);
      if (node >= 0 && index.nodeAt(src) === node) return { verdict: FLOW_ALLOW, policy: allowedBy };
      if (side.allowedBy < 0) return { verdict: FLOW_DENY_INGRESS, policy: side.isolatedBy };
      allowedBy = side.allowedBy;
    }
  }
  return { verdict: FLOW_ALLOW, policy: allowedBy };
}

function decideSide(index: PolicyIndex, dir: Direction, pod: number, peerAddr: Uint8Array, peerPod: number, protocol: number, dstPort: number, dstPod: number): { isolatedBy: number; allowedBy: number } {
  let isolatedBy = -1;
  for (const policy of index.policies) {
    if (!policy.isolates[dir] || !index.selects(policy, pod)) continue;
    if (isolatedBy < 0) isolatedBy = policy.index;
    for (const rule of policy.rules[dir]) {
      if (ruleMatches(index, policy, rule, peerAddr, peerPod, protocol, dstPort, dstPod)) return { isolatedBy, allowedBy: policy.index };
    }
  }
  return { isolatedBy, allowedBy: -1 };
}

export function ruleMatches(index: PolicyIndex, policy: ParsedPolicy, rule: ParsedRule, peerAddr: Uint8Array, peerPod: number, protocol: number, dstPort: number, dstPod: number): boolean {
  if (!rule.valid) return false;
  if (rule.peers && !rule.peers.some((peer) => peerMatches(index, policy, peer, peerAddr, peerPod))) return false;
  return rule.ports === undefined || rule.ports.some((port) => portMatches(index, port, protocol, dstPort, dstPod));
}

export function peerMatches(index: PolicyIndex, policy: ParsedPolicy, peer: ParsedPeer, addr: Uint8Array, pod: number): boolean {
  switch (peer.kind) {
    case 'invalid':
      return false;
    case 'ipBlock': // any address, pod IPs included (as the upstream e2e suite expects)
      return prefixContains(peer.cidr, addr) && !peer.except.some((e) => prefixContains(e, addr));
    case 'pods':
      return pod >= 0 && index.peerSelectsPod(policy, peer, pod);
  }
}

/** A named port is looked up in the destination pod's container ports, with its protocol. */
export function portMatches(index: PolicyIndex, port: ParsedPort, protocol: number, dstPort: number, dstPod: number): boolean {
  if (PROTOCOL_NUMBERS[port.protocol] !== protocol) return false;
  if (port.port === undefined) return true;
  if (typeof port.port === 'number') return dstPort >= port.port && dstPort <= (port.endPort ?? port.port);
  if (dstPod < 0) return false;
  return index.pods[dstPod].ports.some((pp) => pp.name === port.port && pp.protocol === port.protocol && pp.port === dstPort);
}
