// The datapath's NetworkPolicy: a FlowDecider over the compiled buffer (policy-layout.ts). A
// worker builds one per buffer it is sent (construction reads the header only). decide() looks
// up both addresses in the hash, then walks only the two pods' own rule lists: its cost grows
// with the rules that select those pods, not with the number of policies; it allocates nothing.
import { IPPROTO_TCP } from '../../packet/constants.js';
import { FLOW_ALLOW, FLOW_DENY_EGRESS, FLOW_DENY_INGRESS, type FlowDecider, type FlowQuery } from './flow-decider.js';
import {
  ADDRESS_WORDS, A_ADDR, A_NODE, A_POD, H_EGRESS_LISTS_OFF, H_GENERATION, H_HASH_MASK, H_HASH_OFF, H_INGRESS_LISTS_OFF, H_MAGIC, H_NAMED_PORTS_OFF,
  H_PODS_OFF, H_POD_COUNT, H_RULES_OFF, H_TOTAL_WORDS, IP_BLOCK_EXCEPT_WORDS, NAMED_PORT_WORDS, PEER_IP_BLOCK, PEER_POD_BITS, PEER_POD_LIST,
  POLICY_MAGIC, PORT_NAMED, PORT_WORDS, RULE_WORDS, R_PEERS_COUNT, R_PEERS_OFF, R_POLICY, R_PORTS_COUNT, R_PORTS_OFF,
  addressHash, addressWord, podArrayOffsets,
} from './policy-layout.js';

/** A flow a rule names, as its pod's rule walk sees it (CompiledPolicy.ruleFlows). */
export interface RuleFlow {
  /** Where in the pool the walk starts (the rule's place in its pod's list) and how many rules it may walk. */
  listOff: number;
  count: number;
  /** The other side: its address and pod (−1: none). */
  peer: Uint8Array;
  peerPod: number;
  protocol: number;
  dstPort: number;
  dstPod: number;
}

export class CompiledPolicy implements FlowDecider {
  private readonly w: Int32Array;
  private readonly hashOff: number;
  private readonly hashMask: number;
  private readonly rulesOff: number;
  /** The per-pod arrays (podArrayOffsets), each indexed by pod. */
  private readonly nodeOff: number;
  private readonly ingressIsolatedByOff: number;
  private readonly egressIsolatedByOff: number;
  private readonly ingressStartsOff: number;
  private readonly egressStartsOff: number;
  private readonly namedPortStartsOff: number;
  /** Where the per-pod lists start in the pool. */
  private readonly ingressListsOff: number;
  private readonly egressListsOff: number;
  private readonly namedPortsOff: number;
  private readonly gen: number;
  private lastReason = -1;

  constructor(sab: SharedArrayBuffer) {
    const w = new Int32Array(sab);
    if (w.length < H_TOTAL_WORDS + 1 || w[H_MAGIC] !== POLICY_MAGIC || w[H_TOTAL_WORDS] !== w.length) throw new Error('not a compiled NetworkPolicy buffer');
    this.w = w;
    this.gen = w[H_GENERATION];
    this.hashOff = w[H_HASH_OFF];
    this.hashMask = w[H_HASH_MASK];
    this.rulesOff = w[H_RULES_OFF];
    const podsOff = w[H_PODS_OFF];
    const at = podArrayOffsets(w[H_POD_COUNT]);
    this.nodeOff = podsOff + at.node;
    this.ingressIsolatedByOff = podsOff + at.ingressIsolatedBy;
    this.egressIsolatedByOff = podsOff + at.egressIsolatedBy;
    this.ingressStartsOff = podsOff + at.ingressStarts;
    this.egressStartsOff = podsOff + at.egressStarts;
    this.namedPortStartsOff = podsOff + at.namedPortStarts;
    this.ingressListsOff = w[H_INGRESS_LISTS_OFF];
    this.egressListsOff = w[H_EGRESS_LISTS_OFF];
    this.namedPortsOff = w[H_NAMED_PORTS_OFF];
  }

  generation(): number {
    return this.gen;
  }

  podCount(): number {
    return this.w[H_POD_COUNT];
  }

  reason(): number {
    return this.lastReason;
  }

  /**
   * Up to `max` IPv4 addresses of pods, as Uint32s, those a policy isolates first (their flows walk
   * rule lists): for the warm-up's connections, not for the datapath.
   */
  podAddressesV4(max: number): number[] {
    return this.podAddressSlots(max, false).map((s) => this.w[s + A_ADDR + 3] >>> 0);
  }

  /** The same for IPv6: up to `max` pods' IPv6 addresses, 16 bytes each. */
  podAddressesV6(max: number): Uint8Array[] {
    return this.podAddressSlots(max, true).map((s) => this.addressAt(s + A_ADDR));
  }

  /**
   * Up to `max` flows that the rules of isolated pods name, for the warm-up (walkRules): per rule,
   * from a peer it names (a pod of its set, or its ipBlock's address) to the pod (ingress) or the
   * other way (egress), on each of its ports (named ones resolved on the destination pod) and on
   * port 0, which none names.
   */
  ruleFlows(max: number): RuleFlow[] {
    const w = this.w;
    const slotOfPod = new Map<number, number>();
    for (let s = this.hashOff; s <= this.hashOff + this.hashMask * ADDRESS_WORDS; s += ADDRESS_WORDS) {
      if (w[s + A_POD] >= 0 && !slotOfPod.has(w[s + A_POD])) slotOfPod.set(w[s + A_POD], s);
    }
    const found: RuleFlow[] = [];
    for (const [pod, slot] of slotOfPod) {
      for (const ingress of [true, false]) {
        const s = (ingress ? this.ingressStartsOff : this.egressStartsOff) + pod;
        const lists = ingress ? this.ingressListsOff : this.egressListsOff;
        for (let j = w[s]; j < w[s + 1]; j++) {
          if (found.length >= max) return found;
          const r = this.rulesOff + w[lists + j] * RULE_WORDS;
          const peer = this.namedPeer(w[r + R_PEERS_OFF], w[r + R_PEERS_COUNT], slotOfPod) ?? { address: this.addressAt(slot + A_ADDR), pod };
          const dstPod = ingress ? pod : peer.pod;
          const ports = w[r + R_PORTS_COUNT];
          // Each of its ports, and then port 0, which no rule names: the walk past every port and rule.
          for (let i = 0; i <= Math.max(ports, 0); i++) {
            const e = w[r + R_PORTS_OFF] + i * PORT_WORDS;
            const protocol = i >= ports ? IPPROTO_TCP : w[e];
            const port = i >= ports ? 0 : w[e + 1] === PORT_NAMED ? this.namedPortOf(dstPod, w[e + 2], protocol) : w[e + 2];
            // The rule's own list from this rule on: the walk reaches it first.
            found.push({ listOff: lists + j, count: w[s + 1] - j, peer: peer.address, peerPod: peer.pod, protocol, dstPort: port, dstPod });
          }
        }
      }
    }
    return found;
  }

  /**
   * The rule walk decide() makes for a pod isolated that way once the other side allowed the flow
   * (firstMatch, peers, ports, named ports), for the warm-up: flows between pods that every rule
   * denies at the source's egress (a world where each pod is isolated both ways) never reach the
   * destination's rules, so a real flow the rules let in took those paths first and deoptimized.
   */
  walkRules(f: RuleFlow): number {
    return this.firstMatch(f.listOff, f.count, f.peer, f.peerPod, f.protocol, f.dstPort, f.dstPod);
  }

  /** The first peer of a rule's peer list that names an address: a pod of its set (and its address), or its ipBlock's prefix. */
  private namedPeer(off: number, count: number, slotOfPod: Map<number, number>): { address: Uint8Array; pod: number } | undefined {
    const w = this.w;
    for (let i = 0; i < count; i++) {
      const peer = w[off + i];
      if (w[peer] === PEER_IP_BLOCK) return { address: this.addressAt(peer + 3), pod: -1 };
      for (let k = 0; k < w[peer + 1]; k++) {
        const pod = w[peer] === PEER_POD_LIST ? w[peer + 2 + k] : w[peer + 2 + k] === 0 ? -1 : 32 * k + 31 - Math.clz32(w[peer + 2 + k] & -w[peer + 2 + k]);
        const slot = slotOfPod.get(pod);
        if (slot !== undefined) return { address: this.addressAt(slot + A_ADDR), pod };
      }
    }
    return undefined;
  }

  /** The port that `pod` names `nameId` for `protocol`, 0 when it names none. */
  private namedPortOf(pod: number, nameId: number, protocol: number): number {
    const w = this.w;
    if (pod < 0) return 0;
    const s = this.namedPortStartsOff + pod;
    for (let e = this.namedPortsOff + w[s]; e < this.namedPortsOff + w[s + 1]; e += NAMED_PORT_WORDS) if (w[e] === nameId && w[e + 1] === protocol) return w[e + 2];
    return 0;
  }

  /** The 16 bytes of the address in the four words at w[at]. */
  private addressAt(at: number): Uint8Array {
    const a = new Uint8Array(16);
    const view = new DataView(a.buffer);
    for (let k = 0; k < 4; k++) view.setInt32(4 * k, this.w[at + k]);
    return a;
  }

  /**
   * For the warm-up: an IPv4 address (a Uint32) that the hash holds away from its home slot, so
   * that looking it up probes past a collision, as a real pod's lookup may; undefined when none is.
   */
  displacedAddressV4(): number | undefined {
    const w = this.w;
    for (let i = 0; i <= this.hashMask; i++) {
      const s = this.hashOff + i * ADDRESS_WORDS;
      if ((w[s + A_POD] < 0 && w[s + A_NODE] < 0) || w[s + A_ADDR] !== 0 || w[s + A_ADDR + 1] !== 0 || w[s + A_ADDR + 2] !== 0xffff) continue;
      if ((addressHash(w[s + A_ADDR], w[s + A_ADDR + 1], w[s + A_ADDR + 2], w[s + A_ADDR + 3]) & this.hashMask) !== i) return w[s + A_ADDR + 3] >>> 0;
    }
    return undefined;
  }

  /** Hash slots of up to `max` pod addresses of one family, isolated pods first. */
  private podAddressSlots(max: number, v6: boolean): number[] {
    const w = this.w;
    const found: number[] = [];
    for (const isolated of [true, false]) {
      for (let s = this.hashOff; s <= this.hashOff + this.hashMask * ADDRESS_WORDS && found.length < max; s += ADDRESS_WORDS) {
        const pod = w[s + A_POD];
        if (pod < 0) continue;
        if ((w[this.ingressIsolatedByOff + pod] >= 0 || w[this.egressIsolatedByOff + pod] >= 0) !== isolated) continue;
        // ::ffff:a.b.c.d is the FlowQuery form of an IPv4 address.
        const mapped = w[s + A_ADDR] === 0 && w[s + A_ADDR + 1] === 0 && w[s + A_ADDR + 2] === 0xffff;
        if (mapped !== v6) found.push(s);
      }
    }
    return found;
  }

  decide(q: FlowQuery): number {
    const w = this.w;
    const srcSlot = this.slotOf(q.src);
    const dstSlot = this.slotOf(q.dst);
    const srcPod = srcSlot < 0 ? -1 : w[srcSlot + A_POD];
    const dstPod = dstSlot < 0 ? -1 : w[dstSlot + A_POD];
    let allowedBy = -1;
    if (srcPod >= 0) {
      const isolatedBy = w[this.egressIsolatedByOff + srcPod];
      if (isolatedBy >= 0) {
        const s = this.egressStartsOff + srcPod;
        allowedBy = this.firstMatch(this.egressListsOff + w[s], w[s + 1] - w[s], q.dst, dstPod, q.protocol, q.dstPort, dstPod);
        if (allowedBy < 0) {
          this.lastReason = isolatedBy;
          return FLOW_DENY_EGRESS;
        }
      }
    }
    if (dstPod >= 0) {
      const isolatedBy = w[this.ingressIsolatedByOff + dstPod];
      // Traffic from the pod's own node is allowed, whatever isolates the pod.
      const fromOwnNode = srcSlot >= 0 && w[srcSlot + A_NODE] >= 0 && w[srcSlot + A_NODE] === w[this.nodeOff + dstPod];
      if (isolatedBy >= 0 && !fromOwnNode) {
        const s = this.ingressStartsOff + dstPod;
        const by = this.firstMatch(this.ingressListsOff + w[s], w[s + 1] - w[s], q.src, srcPod, q.protocol, q.dstPort, dstPod);
        if (by < 0) {
          this.lastReason = isolatedBy;
          return FLOW_DENY_INGRESS;
        }
        allowedBy = by;
      }
    }
    this.lastReason = allowedBy;
    return FLOW_ALLOW;
  }

  /** The hash slot (word offset) of this address, -1 when it is nobody's. */
  private slotOf(a: Uint8Array): number {
    const w = this.w;
    const a0 = addressWord(a, 0);
    const a1 = addressWord(a, 1);
    const a2 = addressWord(a, 2);
    const a3 = addressWord(a, 3);
    const mask = this.hashMask;
    for (let i = addressHash(a0, a1, a2, a3) & mask, n = 0; n <= mask; i = (i + 1) & mask, n++) {
      const s = this.hashOff + i * ADDRESS_WORDS;
      if (w[s + A_POD] < 0 && w[s + A_NODE] < 0) return -1;
      if (w[s + A_ADDR] === a0 && w[s + A_ADDR + 1] === a1 && w[s + A_ADDR + 2] === a2 && w[s + A_ADDR + 3] === a3) return s;
    }
    return -1;
  }

  /** The policy of the first rule in the list that matches, -1 when none does. */
  private firstMatch(listOff: number, count: number, peerAddr: Uint8Array, peerPod: number, protocol: number, dstPort: number, dstPod: number): number {
    const w = this.w;
    for (let i = 0; i < count; i++) {
      const r = this.rulesOff + w[listOff + i] * RULE_WORDS;
      if (this.peersMatch(w[r + R_PEERS_OFF], w[r + R_PEERS_COUNT], peerAddr, peerPod) && this.portsMatch(w[r + R_PORTS_OFF], w[r + R_PORTS_COUNT], protocol, dstPort, dstPod)) return w[r + R_POLICY];
    }
    return -1;
  }

  private peersMatch(off: number, count: number, addr: Uint8Array, pod: number): boolean {
    if (count < 0) return true;
    const w = this.w;
    for (let i = 0; i < count; i++) {
      const peer = w[off + i];
      const kind = w[peer];
      if (kind === PEER_IP_BLOCK) {
        if (this.ipBlockMatches(peer, addr)) return true;
      } else if (pod >= 0) {
        const n = w[peer + 1];
        if (kind === PEER_POD_BITS) {
          if (pod >>> 5 < n && (w[peer + 2 + (pod >>> 5)] & (1 << (pod & 31))) !== 0) return true;
        } else if (kind === PEER_POD_LIST) {
          let lo = 0;
          let hi = n - 1;
          while (lo <= hi) {
            const mid = (lo + hi) >>> 1;
            const v = w[peer + 2 + mid];
            if (v === pod) return true;
            if (v < pod) lo = mid + 1;
            else hi = mid - 1;
          }
        }
      }
    }
    return false;
  }

  private ipBlockMatches(peer: number, addr: Uint8Array): boolean {
    const w = this.w;
    if (w[peer + 1] !== familyOf(addr) || !prefixMatches(w, peer + 2, addr)) return false;
    const n = w[peer + 7];
    for (let e = 0; e < n; e++) if (prefixMatches(w, peer + 8 + e * IP_BLOCK_EXCEPT_WORDS, addr)) return false;
    return true;
  }

  private portsMatch(off: number, count: number, protocol: number, dstPort: number, dstPod: number): boolean {
    if (count < 0) return true;
    const w = this.w;
    for (let i = 0; i < count; i++) {
      const e = off + i * PORT_WORDS;
      if (w[e] !== protocol) continue;
      if (w[e + 1] === PORT_NAMED) {
        if (dstPod >= 0 && this.podHasNamedPort(dstPod, w[e + 2], protocol, dstPort)) return true;
      } else if (dstPort >= w[e + 2] && dstPort <= w[e + 3]) return true;
    }
    return false;
  }

  private podHasNamedPort(pod: number, nameId: number, protocol: number, port: number): boolean {
    const w = this.w;
    const s = this.namedPortStartsOff + pod;
    for (let e = this.namedPortsOff + w[s], end = this.namedPortsOff + w[s + 1]; e < end; e += NAMED_PORT_WORDS) {
      if (w[e] === nameId && w[e + 1] === protocol && w[e + 2] === port) return true;
    }
    return false;
  }
}

function familyOf(a: Uint8Array): number {
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return 6;
  return a[10] === 0xff && a[11] === 0xff ? 4 : 6;
}

/** Whether `addr` is inside the prefix stored at w[at] as [bits, 4 address words]. */
function prefixMatches(w: Int32Array, at: number, addr: Uint8Array): boolean {
  let bits = w[at];
  for (let k = 0; k < 4 && bits > 0; k++, bits -= 32) {
    const mask = bits >= 32 ? -1 : ~(-1 >>> bits);
    if (((addressWord(addr, k) ^ w[at + 1 + k]) & mask) !== 0) return false;
  }
  return true;
}
