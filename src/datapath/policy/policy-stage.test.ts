import { describe, expect, it } from 'vitest';
import { echo, fragmentHeader, ICMP, icmpError, ipv4, ipv6, TCP, tcp, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, UDP, udp } from '../../../test/flow-packets.js';
import { TestDecider, type Question, type Rule } from '../../../test/test-flow-decider.js';
import { ENCAP_LEN, HEADROOM } from '../../packet/constants.js';
import { CounterLayout, Direction, PolicySlot, policySlot, ShardCounters } from '../counters.js';
import { Drop } from '../drop-reasons.js';
import { FORWARDED, PacketBatch } from '../packet-batch.js';
import { FlowTuple, readFlow } from '../../packet/flow-tuple.js';
import { allocateConntrack, Conntrack, stateOf, V_FLAGS } from './conntrack.js';
import { CT_CLOSING, Timeouts } from './conntrack-state.js';
import { FLOW_ALLOW, FLOW_DENY_EGRESS, FLOW_DENY_INGRESS } from './flow-decider.js';
import { policyStage, type PolicyContext } from './policy-stage.js';

const SLOT = 2048;
const CLIENT = '10.244.1.5'; // a pod of this node
const SERVER = '10.244.2.7'; // a pod of a peer
const START = 1_700_000_000_000;

const allowAll: Rule = () => ({ verdict: FLOW_ALLOW, policy: 4 });

class World {
  readonly layout = new CounterLayout(1, 4);
  readonly block: Float64Array;
  readonly counters: ShardCounters;
  readonly decider: TestDecider;
  readonly ctx: PolicyContext;
  readonly batch = new PacketBatch(16, SLOT);

  constructor(rule: Rule = allowAll, max = 1024) {
    const sab = this.layout.allocate();
    this.block = this.layout.block(sab, 0);
    this.counters = new ShardCounters(this.block, this.layout);
    this.counters.now = START;
    this.decider = new TestDecider(rule);
    this.ctx = { conntrack: new Conntrack(allocateConntrack(max)), decider: this.decider, counters: this.counters };
  }

  /**
   * Runs the stage over packets as encapsulate (from the TUN) or decapsulate (from peers) leaves
   * them: each FORWARDED, in the output list in order. Returns the verdicts and what stays listed.
   */
  run(direction: number, ...packets: Buffer[]): { verdicts: number[]; listed: number[] } {
    const b = this.batch;
    const before = direction === Direction.tun ? 0 : ENCAP_LEN;
    packets.forEach((p, i) => {
      p.copy(b.slab, i * SLOT + HEADROOM);
      b.sizes[i] = p.length + before;
      b.verdicts[i] = FORWARDED;
      b.outOffsets[i] = i * SLOT + (direction === Direction.tun ? HEADROOM - ENCAP_LEN : HEADROOM);
      b.outLengths[i] = p.length + (direction === Direction.tun ? ENCAP_LEN : 0);
      b.outAddrs[i * 4] = 1000 + i;
    });
    b.out6 = 0;
    const out = policyStage(b, packets.length, packets.length, this.ctx, direction);
    const listed = Array.from(b.outOffsets.subarray(0, out), (o, j) => {
      expect(b.outAddrs[j * 4]).toBe(1000 + Math.floor(o / SLOT)); // the address moved with its packet
      return Math.floor(o / SLOT);
    });
    return { verdicts: Array.from(b.verdicts.subarray(0, packets.length)), listed };
  }

  /** One packet's verdict. */
  one(direction: number, p: Buffer): number {
    return this.run(direction, p).verdicts[0];
  }

  dropped(reason: number): number {
    return this.block[reason];
  }

  newFlows(direction: number, allowed: boolean): number {
    return this.block[policySlot(direction, allowed ? PolicySlot.newAllowed : PolicySlot.newDenied)];
  }
}

const out = (flags: number, data = 100) => ipv4(CLIENT, SERVER, TCP, tcp(40000, 80, flags, data));
const back = (flags: number, data = 100) => ipv4(SERVER, CLIENT, TCP, tcp(80, 40000, flags, data));
function flowOf(p: Buffer): FlowTuple {
  const t = new FlowTuple();
  readFlow(p, 0, p.length, t);
  return t;
}
const question = (src: string, dst: string, protocol: number, dstPort: number): Question => ({ src, dst, protocol, dstPort });

describe('the policy stage', () => {
  it('asks the policy once for a long-lived TCP stream, whatever the direction and however long it lasts', () => {
    const w = new World();
    expect(w.one(Direction.tun, out(TCP_SYN))).toBe(FORWARDED);
    expect(w.one(Direction.udp, back(TCP_SYN | TCP_ACK))).toBe(FORWARDED);
    for (let k = 0; k < 200; k++) {
      w.counters.now += 3600_000; // an hour between packets: an established connection waits 5 days
      expect(w.run(Direction.tun, out(TCP_ACK), out(TCP_ACK)).verdicts).toEqual([FORWARDED, FORWARDED]);
      expect(w.one(Direction.udp, back(TCP_ACK))).toBe(FORWARDED);
    }
    expect(w.decider.asked).toEqual([question(CLIENT, SERVER, TCP, 80)]);
    expect(w.ctx.conntrack.stats().entries).toBe(1);
    expect(w.newFlows(Direction.tun, true)).toBe(1);
    expect(w.newFlows(Direction.udp, true)).toBe(0);
  });

  it('lets the replies of an egress-allowed connection reach an ingress-isolated client', () => {
    // The client is isolated for ingress with no rule: only its own connections' replies may come in.
    const w = new World((q) => (q.dst === CLIENT ? { verdict: FLOW_DENY_INGRESS, policy: 2 } : { verdict: FLOW_ALLOW, policy: 9 }));
    expect(w.one(Direction.tun, ipv4(CLIENT, SERVER, UDP, udp(5000, 53)))).toBe(FORWARDED);
    expect(w.one(Direction.udp, ipv4(SERVER, CLIENT, UDP, udp(53, 5000)))).toBe(FORWARDED);
    expect(w.one(Direction.tun, out(TCP_SYN))).toBe(FORWARDED);
    expect(w.one(Direction.udp, back(TCP_SYN | TCP_ACK))).toBe(FORWARDED);
    // A connection the server opens is denied, and stays denied without asking again.
    const opened = ipv4(SERVER, CLIENT, TCP, tcp(33000, 22, TCP_SYN));
    expect(w.one(Direction.udp, opened)).toBe(Drop.policy_denied_ingress);
    expect(w.one(Direction.udp, opened)).toBe(Drop.policy_denied_ingress);
    expect(w.decider.asked.filter((q) => q.src === SERVER)).toEqual([question(SERVER, CLIENT, TCP, 22)]);
    expect(w.dropped(Drop.policy_denied_ingress)).toBe(2);
    expect(w.newFlows(Direction.udp, false)).toBe(1);
    // The trace names the policy that decided: 1 + its index (0: none).
    expect(w.batch.policyOf[0]).toBe(2 + 1);
    expect(w.one(Direction.tun, out(TCP_ACK))).toBe(FORWARDED);
    expect(w.batch.policyOf[0]).toBe(9 + 1);
  });

  it('lets the ICMP errors of an allowed flow pass, and drops errors that quote no connection', () => {
    const w = new World();
    const request = ipv4(CLIENT, SERVER, UDP, udp(5000, 53));
    expect(w.one(Direction.tun, request)).toBe(FORWARDED);
    const unreachable = ipv4(SERVER, CLIENT, ICMP, icmpError(3, 3, request));
    expect(w.one(Direction.udp, unreachable)).toBe(FORWARDED);
    const ping = ipv4(CLIENT, SERVER, ICMP, echo(8, 42));
    expect(w.one(Direction.tun, ping)).toBe(FORWARDED);
    expect(w.one(Direction.udp, ipv4('192.0.2.9', CLIENT, ICMP, icmpError(11, 0, ping)))).toBe(FORWARDED);
    expect(w.one(Direction.udp, ipv4(SERVER, CLIENT, ICMP, echo(0, 42)))).toBe(FORWARDED);
    // An error about a packet never sent is no one's: it cannot open anything.
    const never = ipv4(CLIENT, SERVER, UDP, udp(5001, 53));
    expect(w.one(Direction.udp, ipv4(SERVER, CLIENT, ICMP, icmpError(3, 3, never)))).toBe(Drop.policy_unrelated);
    expect(w.decider.asked).toHaveLength(2);
    // An error of a denied flow is denied with it.
    const denied = new World((q) => (q.dstPort === 53 ? { verdict: FLOW_DENY_EGRESS, policy: 1 } : { verdict: FLOW_ALLOW, policy: 0 }));
    expect(denied.one(Direction.tun, request)).toBe(Drop.policy_denied_egress);
    expect(denied.one(Direction.udp, unreachable)).toBe(Drop.policy_denied_egress);
  });

  it('decides open connections again when the policy changes, in the direction of who opened them', () => {
    const w = new World();
    expect(w.one(Direction.tun, out(TCP_SYN))).toBe(FORWARDED);
    expect(w.one(Direction.udp, back(TCP_SYN | TCP_ACK))).toBe(FORWARDED);
    w.decider.change((q) => (q.src === CLIENT ? { verdict: FLOW_DENY_EGRESS, policy: 3 } : { verdict: FLOW_ALLOW, policy: 0 }));
    // The server's packet comes first after the change: the question is still the client's.
    expect(w.one(Direction.udp, back(TCP_ACK))).toBe(Drop.policy_denied_egress);
    expect(w.one(Direction.tun, out(TCP_ACK))).toBe(Drop.policy_denied_egress);
    expect(w.decider.asked).toEqual([question(CLIENT, SERVER, TCP, 80), question(CLIENT, SERVER, TCP, 80)]);
    // Allowed again: the open connection resumes.
    w.decider.change(allowAll);
    expect(w.one(Direction.tun, out(TCP_ACK))).toBe(FORWARDED);
    expect(w.one(Direction.udp, back(TCP_ACK))).toBe(FORWARDED);
    expect(w.decider.asked).toHaveLength(3);
    expect(w.newFlows(Direction.tun, true)).toBe(1);
  });

  it('decides a flow again after its entry expired, or when a SYN reopens a closed connection', () => {
    const w = new World();
    expect(w.one(Direction.tun, ipv4(CLIENT, SERVER, UDP, udp(5000, 53)))).toBe(FORWARDED);
    w.counters.now += Timeouts.udpNew;
    expect(w.one(Direction.tun, ipv4(CLIENT, SERVER, UDP, udp(5000, 53)))).toBe(FORWARDED);
    expect(w.decider.asked).toHaveLength(1);
    w.counters.now += Timeouts.udpNew + 1;
    expect(w.one(Direction.tun, ipv4(CLIENT, SERVER, UDP, udp(5000, 53)))).toBe(FORWARDED);
    expect(w.decider.asked).toHaveLength(2);

    expect(w.one(Direction.tun, out(TCP_SYN))).toBe(FORWARDED);
    expect(w.one(Direction.udp, back(TCP_SYN | TCP_ACK))).toBe(FORWARDED);
    expect(w.one(Direction.udp, back(TCP_RST))).toBe(FORWARDED);
    expect(w.decider.asked).toHaveLength(3);
    // The server reuses the ports to open a connection of its own: its own question.
    expect(w.one(Direction.udp, back(TCP_SYN))).toBe(FORWARDED);
    expect(w.decider.asked.at(-1)).toEqual(question(SERVER, CLIENT, TCP, 40000));
    expect(w.one(Direction.tun, out(TCP_FIN | TCP_ACK))).toBe(FORWARDED);
    expect(w.decider.asked).toHaveLength(4);
  });

  it('lets the responder of a denied flow open its own connection on the same ports', () => {
    const w = new World((q) => (q.src === CLIENT ? { verdict: FLOW_DENY_EGRESS, policy: 1 } : { verdict: FLOW_ALLOW, policy: 2 }));
    expect(w.one(Direction.tun, ipv4(CLIENT, SERVER, UDP, udp(5000, 53)))).toBe(Drop.policy_denied_egress);
    expect(w.one(Direction.udp, ipv4(SERVER, CLIENT, UDP, udp(53, 5000)))).toBe(FORWARDED);
    // Now the server's connection: the client's packets are its replies.
    expect(w.one(Direction.tun, ipv4(CLIENT, SERVER, UDP, udp(5000, 53)))).toBe(FORWARDED);
  });

  it('passes the later fragments of an allowed first fragment only', () => {
    const w = new World();
    const first = ipv4(CLIENT, SERVER, UDP, udp(5000, 53, 1000), { id: 7, offset: 0, more: true });
    const later = ipv4(CLIENT, SERVER, UDP, Buffer.alloc(500), { id: 7, offset: 126, more: false });
    const stray = ipv4(CLIENT, SERVER, UDP, Buffer.alloc(500), { id: 8, offset: 126, more: false });
    expect(w.run(Direction.tun, first, later, stray).verdicts).toEqual([FORWARDED, FORWARDED, Drop.policy_unrelated]);
    const six = (offset: number, more: boolean, payload: Buffer) => ipv6('fd00:10:244:1::5', 'fd00:10:244:2::7', UDP, payload, [fragmentHeader({ id: 99, offset, more })]);
    const denied = new World(() => ({ verdict: FLOW_DENY_INGRESS, policy: 0 }));
    expect(denied.run(Direction.udp, six(0, true, udp(1, 2, 1000)), six(126, false, Buffer.alloc(100))).verdicts).toEqual([Drop.policy_denied_ingress, Drop.policy_unrelated]);
    // A policy change stops the fragments of a datagram allowed before it.
    w.decider.change(allowAll);
    expect(w.one(Direction.tun, later)).toBe(Drop.policy_unrelated);
  });

  it('takes denied packets out of both output lists, keeping the others in order', () => {
    const w = new World((q) => (q.dstPort === 81 ? { verdict: FLOW_DENY_INGRESS, policy: 0 } : { verdict: FLOW_ALLOW, policy: 0 }));
    const to = (port: number) => ipv4(CLIENT, SERVER, TCP, tcp(40000 + port, port, TCP_SYN));
    const r = w.run(Direction.tun, to(80), to(81), to(82), to(81), to(83));
    expect(r.verdicts).toEqual([FORWARDED, Drop.policy_denied_ingress, FORWARDED, Drop.policy_denied_ingress, FORWARDED]);
    expect(r.listed).toEqual([0, 2, 4]);
    const b = w.batch;
    // The same over the IPv6 underlay's list, as encapsulate fills it.
    for (let i = 0; i < 3; i++) {
      to([80, 81, 82][i]).copy(b.slab, i * SLOT + HEADROOM);
      b.sizes[i] = 60;
      b.verdicts[i] = FORWARDED;
      b.outOffsets6[i] = i * SLOT + HEADROOM - ENCAP_LEN;
      b.outAddrs6[i * 4 + 3] = 70 + i;
    }
    b.out6 = 3;
    expect(policyStage(b, 3, 0, w.ctx, Direction.tun)).toBe(0);
    expect(b.out6).toBe(2);
    expect(Array.from(b.outAddrs6.subarray(0, 8)).filter((_, k) => k % 4 === 3)).toEqual([70, 72]);
  });

  it('leaves packets already dropped alone, and drops what has no flow to name', () => {
    const w = new World();
    const b = w.batch;
    b.verdicts[0] = Drop.no_route;
    b.sizes[0] = 60;
    expect(policyStage(b, 1, 0, w.ctx, Direction.tun)).toBe(0);
    expect(b.verdicts[0]).toBe(Drop.no_route);
    expect(w.one(Direction.tun, ipv4(CLIENT, SERVER, TCP, Buffer.alloc(10)))).toBe(Drop.policy_untrackable);
    expect(w.dropped(Drop.policy_untrackable)).toBe(1);
    expect(w.decider.asked).toHaveLength(0);
  });

  it('judges a run of one flow\'s packets in a batch alike, and still sees the ones that change its state', () => {
    const w = new World((q) => (q.dstPort === 22 ? { verdict: FLOW_DENY_INGRESS, policy: 1 } : { verdict: FLOW_ALLOW, policy: 0 }));
    const r = w.run(Direction.tun, out(TCP_SYN), out(TCP_ACK), out(TCP_ACK), back(TCP_SYN | TCP_ACK), out(TCP_ACK), out(TCP_FIN | TCP_ACK), out(TCP_ACK));
    expect(r.verdicts.every((v) => v === FORWARDED)).toBe(true);
    const ct = w.ctx.conntrack;
    ct.setKey(flowOf(out(TCP_ACK)), false);
    ct.lookup(w.counters.now);
    expect(stateOf(ct.found[V_FLAGS])).toBe(CT_CLOSING);
    const ssh = ipv4(CLIENT, SERVER, TCP, tcp(40001, 22, TCP_ACK));
    const s = w.run(Direction.tun, ssh, ssh, ssh, out(TCP_ACK), ssh);
    expect(s.verdicts).toEqual([Drop.policy_denied_ingress, Drop.policy_denied_ingress, Drop.policy_denied_ingress, FORWARDED, Drop.policy_denied_ingress]);
    expect(s.listed).toEqual([3]);
    expect(w.dropped(Drop.policy_denied_ingress)).toBe(4);
    expect(Array.from(w.batch.policyOf.subarray(0, 5))).toEqual([2, 2, 2, 1, 2]);
  });

  it('does not let a run carry a packet whose IPv4 header is shorter than 20 bytes, whatever lies where its ports would be', () => {
    const w = new World();
    // Ports equal to the source address's words (10.244.1.5 = 0x0af4 0x0105): with an IHL of 3 the
    // "transport header" starts at the source address and holds the run's ports.
    const p = ipv4(CLIENT, SERVER, TCP, tcp(0x0af4, 0x0105, TCP_ACK));
    const short = Buffer.from(p);
    short[0] = 0x43;
    expect(w.run(Direction.tun, p, short, p).verdicts).toEqual([FORWARDED, Drop.policy_untrackable, FORWARDED]);
  });

  it('never drops an allowed flow because the table is full', () => {
    const w = new World(allowAll, 16);
    for (let k = 0; k < 16; k++) {
      expect(w.one(Direction.tun, ipv4(CLIENT, SERVER, UDP, udp(1000 + k, 53)))).toBe(FORWARDED);
      expect(w.one(Direction.udp, ipv4(SERVER, CLIENT, UDP, udp(53, 1000 + k)))).toBe(FORWARDED);
    }
    for (let k = 0; k < 50; k++) expect(w.one(Direction.tun, ipv4(CLIENT, SERVER, UDP, udp(5000 + k, 53)))).toBe(FORWARDED);
    expect(w.ctx.conntrack.stats()).toMatchObject({ entries: 16, full: 50 });
  });
});
