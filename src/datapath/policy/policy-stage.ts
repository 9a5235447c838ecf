// NetworkPolicy on the datapath: after encapsulate (packets our pods send toward peers) or
// decapsulate (packets from peers toward our pods), each packet still on its way is matched to
// its connection. A connection's first packet asks the FlowDecider and the answer is kept in the
// shared connection table; every later packet, in either direction, gets the same verdict
// without asking, until the policy changes (a new generation): then the connection's next packet
// asks again, in the direction of whoever opened it. ICMP errors follow the connection they
// quote; later IP fragments follow their first fragment. Denied packets leave the output lists.
import { ENCAP_LEN, HEADROOM, IPPROTO_TCP, IPPROTO_UDP } from '../../packet/constants.js';
import { FLOW_LATER_FRAGMENT, FLOW_OWN, FLOW_RELATED, FlowTuple, IPPROTO_SCTP, readFlow, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../../packet/flow-tuple.js';
import { Direction, type ShardCounters } from '../counters.js';
import { Drop } from '../drop-reasons.js';
import { dropped } from '../dropped.js';
import { FORWARDED, type PacketBatch } from '../packet-batch.js';
import { ageOf } from '../switch/seen-stamp.js';
import { Conntrack, flagsOf, initiatorIsB, stateOf, verdictOf, V_FLAGS, V_GENERATION, V_REASON, V_SEEN } from './conntrack.js';
import { CT_CLOSED, CT_CLOSING, CT_FRAGMENTS, CT_NEW, nextState } from './conntrack-state.js';
import { FLOW_ALLOW, FLOW_DENY_EGRESS, type FlowDecider, type FlowQuery } from './flow-decider.js';
import { FlowRun } from './flow-run.js';

export interface PolicyContext {
  /** This shard's view of the shared connection table. */
  conntrack: Conntrack;
  decider: FlowDecider;
  /** Its `now` is the batch's clock. */
  counters: ShardCounters;
}

/** An entry seen again within this long keeps its stamp: most packets of a flow only read the table. */
export const REFRESH_MS = 1000;

const tuple = new FlowTuple();
const query: FlowQuery = { src: tuple.src, dst: tuple.dst, protocol: 0, dstPort: 0 };
/** The policy index that decided the last packet judged (-1: none), for the trace (PacketBatch.policyOf). */
let lastReason = -1;
/**
 * The connection of the previous packet of the batch, its direction and verdict: a run of packets
 * of one flow in one direction (a TCP stream's segments) reads the table once. Only within a
 * batch, whose generation is one, and only for packets that change no state.
 */
const previous = { key: new Int32Array(10), valid: false, srcIsA: false, verdict: 0, reason: -1 };
const STATE_FLAGS = TCP_SYN | TCP_FIN | TCP_RST;
/** The previous packet's headers, so that the next packet of its run is known without readFlow. */
const run = new FlowRun();
/** Off only where a test proves the run shortcut changes nothing: every packet then takes readFlow and the key compare. */
let runShortcut = true;

export function useRunShortcut(on: boolean): void {
  runShortcut = on;
}

/**
 * Where each slot's IP packet lies when it is not at HEADROOM (switch mode: inside an Ethernet
 * frame, after a VLAN tag or not): its offset in the slab and its length, or offset -1 for a
 * slot that carries no IP packet and passes unjudged (ARP, neighbour discovery).
 */
export interface PacketSpans {
  offsets: Int32Array;
  lengths: Int32Array;
}

/**
 * Applies the policy to the packets of batch `b` (n read, `out` in its output list, and b.out6 in
 * the IPv6 one) that came from `direction` (Direction.tun or Direction.udp). Denied packets get
 * their drop reason as verdict and leave the output lists; returns the new length of the first.
 * `spans`: where the packets are, when not where router mode has them.
 */
export function policyStage(b: PacketBatch, n: number, out: number, ctx: PolicyContext, direction: number, spans?: PacketSpans): number {
  const buf = b.slab;
  const room = b.slotSize - HEADROOM;
  const before = direction === Direction.tun ? 0 : ENCAP_LEN;
  const generation = ctx.decider.generation();
  // The batch's time as an Int32 (ms modulo 2^32, what the table stamps): a double passed from call
  // to call would be boxed, an allocation per packet.
  const now = ctx.counters.now | 0;
  previous.valid = false;
  run.begin(buf);
  let denied = 0;
  for (let i = 0; i < n; i++) {
    b.policyOf[i] = 0;
    if (b.verdicts[i] !== FORWARDED) continue;
    const at = spans ? spans.offsets[i] : i * b.slotSize + HEADROOM;
    if (at < 0) continue;
    const avail = spans ? spans.lengths[i] : Math.min(b.sizes[i] - before, room);
    const verdict = judge(buf, at, avail, ctx, direction, generation, now);
    b.policyOf[i] = lastReason + 1;
    if (verdict === FORWARDED) continue;
    dropped(b, i, verdict, ctx.counters);
    denied++;
  }
  if (denied === 0) return out;
  if (direction === Direction.tun) b.out6 = keepForwarded(b, b.outOffsets6, b.outLengths6, b.outAddrs6, b.out6);
  return keepForwarded(b, b.outOffsets, b.outLengths, b.outAddrs, out);
}

/** FORWARDED or the drop reason of the IP packet at buf[off], `avail` bytes long at most. */
function judge(buf: Buffer, off: number, avail: number, ctx: PolicyContext, direction: number, generation: number, now: number): number {
  if (runShortcut && previous.valid && run.continues(buf, off, avail)) {
    lastReason = previous.reason;
    return dropReason(previous.verdict);
  }
  const ct = ctx.conntrack;
  const status = readFlow(buf, off, avail, tuple);
  lastReason = -1;
  if (status === FLOW_LATER_FRAGMENT) {
    ct.setKey(tuple, true);
    const ok = ct.lookup(now) >= 0 && !ct.expired(now) && verdictOf(ct.found[V_FLAGS]) === FLOW_ALLOW && ct.found[V_GENERATION] === generation;
    return ok ? FORWARDED : Drop.policy_unrelated;
  }
  if (status !== FLOW_OWN && status !== FLOW_RELATED) return Drop.policy_untrackable;
  ct.setKey(tuple, false);
  if (status === FLOW_OWN && sameAsPrevious(ct)) {
    lastReason = previous.reason;
    return dropReason(previous.verdict);
  }
  const slot = ct.lookup(now);
  const known = slot >= 0 && !ct.expired(now);
  if (status === FLOW_RELATED) return known ? dropReason(relatedVerdict(ct, slot, ctx, generation, now)) : Drop.policy_unrelated;
  let verdict: number;
  if (known && !opensAgain(ct)) verdict = knownVerdict(ct, slot, ctx, generation, now);
  else verdict = newFlow(ct, ctx, direction, generation, now);
  if (verdict === FLOW_ALLOW && tuple.firstFragment) {
    ct.setKey(tuple, true);
    ct.store(flagsOf(CT_FRAGMENTS, FLOW_ALLOW, false), generation, lastReason, now);
    previous.valid = false;
  } else remember(ct, verdict, buf, off);
  return dropReason(verdict);
}

/** Whether the packet continues the previous one's flow, same direction, changing no state. */
function sameAsPrevious(ct: Conntrack): boolean {
  if (!previous.valid || ct.srcIsA !== previous.srcIsA || (tuple.tcpFlags & STATE_FLAGS) !== 0 || tuple.firstFragment) return false;
  const key = ct.key;
  const last = previous.key;
  for (let k = key.length - 1; k >= 0; k--) if (key[k] !== last[k]) return false;
  return true;
}

function remember(ct: Conntrack, verdict: number, buf: Buffer, off: number): void {
  run.remember(buf, off, tuple);
  previous.key.set(ct.key);
  previous.srcIsA = ct.srcIsA;
  previous.verdict = verdict;
  previous.reason = lastReason;
  previous.valid = true;
}

/** A TCP SYN on a closing or closed connection opens a new one on the same ports, and a packet from the side a deny entry did not open is its own flow. */
function opensAgain(ct: Conntrack): boolean {
  const flags = ct.found[V_FLAGS];
  const state = stateOf(flags);
  if (tuple.protocol === IPPROTO_TCP && (tuple.tcpFlags & (TCP_SYN | TCP_ACK)) === TCP_SYN && (state === CT_CLOSING || state === CT_CLOSED)) return true;
  return verdictOf(flags) !== FLOW_ALLOW && initiatorIsB(flags) === ct.srcIsA;
}

/** A packet of a known connection: its verdict, decided again under a newer policy; the entry's state and stamp follow. */
function knownVerdict(ct: Conntrack, slot: number, ctx: PolicyContext, generation: number, now: number): number {
  const flags = ct.found[V_FLAGS];
  const initB = initiatorIsB(flags);
  const fromInitiator = initB !== ct.srcIsA;
  const state = stateOf(flags);
  let verdict = verdictOf(flags);
  let reason = ct.found[V_REASON];
  const stale = ct.found[V_GENERATION] !== generation;
  if (stale) {
    verdict = decide(ctx, !fromInitiator);
    reason = lastReason;
  }
  lastReason = reason;
  const next = nextState(tuple.protocol, state, fromInitiator, tuple.tcpFlags);
  // Lost to another shard's change of the same entry: that shard's write stands, and the next packet tries again.
  if (stale || next !== state || ageOf(ct.found[V_SEEN], now) >= REFRESH_MS) ct.update(slot, flagsOf(next, verdict, initB), generation, reason, now);
  return verdict;
}

/** An ICMP error of a known connection: the connection's verdict (decided again under a newer policy). The entry is not refreshed. */
function relatedVerdict(ct: Conntrack, slot: number, ctx: PolicyContext, generation: number, now: number): number {
  const flags = ct.found[V_FLAGS];
  lastReason = ct.found[V_REASON];
  if (ct.found[V_GENERATION] === generation) return verdictOf(flags);
  // The quoted packet went from its sender: the connection's initiator is the sender or the other side.
  const verdict = decide(ctx, initiatorIsB(flags) === ct.srcIsA);
  ct.update(slot, flagsOf(stateOf(flags), verdict, initiatorIsB(flags)), generation, lastReason, now);
  return verdict;
}

/** The first packet of a connection (or the first since its entry expired): decided, counted and stored. */
function newFlow(ct: Conntrack, ctx: PolicyContext, direction: number, generation: number, now: number): number {
  const verdict = decide(ctx, false);
  ctx.counters.newFlow(direction, verdict === FLOW_ALLOW);
  // Full: decided all the same; the flow's next packet is decided again.
  ct.store(flagsOf(CT_NEW, verdict, !ct.srcIsA), generation, lastReason, now);
  return verdict;
}

/** Asks the policy about the tuple's flow, or (`reversed`) the flow the other way; sets lastReason. */
function decide(ctx: PolicyContext, reversed: boolean): number {
  const p = tuple.protocol;
  const ports = p === IPPROTO_TCP || p === IPPROTO_UDP || p === IPPROTO_SCTP;
  query.src = reversed ? tuple.dst : tuple.src;
  query.dst = reversed ? tuple.src : tuple.dst;
  query.protocol = p;
  query.dstPort = ports ? (reversed ? tuple.srcPort : tuple.dstPort) : 0;
  const verdict = ctx.decider.decide(query);
  lastReason = ctx.decider.reason();
  return verdict;
}

function dropReason(verdict: number): number {
  if (verdict === FLOW_ALLOW) return FORWARDED;
  return verdict === FLOW_DENY_EGRESS ? Drop.policy_denied_egress : Drop.policy_denied_ingress;
}

/** Keeps in an output list the packets still FORWARDED (an entry's slot is where it starts); returns the new length. */
function keepForwarded(b: PacketBatch, offsets: Int32Array, lengths: Int32Array, addrs: Uint32Array, count: number): number {
  let kept = 0;
  for (let j = 0; j < count; j++) {
    if (b.verdicts[(offsets[j] / b.slotSize) | 0] !== FORWARDED) continue;
    if (kept !== j) {
      offsets[kept] = offsets[j];
      lengths[kept] = lengths[j];
      for (let w = 0; w < 4; w++) addrs[kept * 4 + w] = addrs[j * 4 + w];
    }
    kept++;
  }
  return kept;
}
