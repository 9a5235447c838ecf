import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { ipv4, ipv6, TCP, tcp, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, UDP, udp } from '../../../test/flow-packets.js';
import { ConfigError } from '../../config-error.js';
import { FLOW_OWN, FlowTuple, readFlow } from '../../packet/flow-tuple.js';
import { allocateConntrack, Conntrack, conntrackBytes, flagsOf, FULL, initiatorIsB, stateOf, STORED, verdictOf, V_FLAGS, V_GENERATION, V_REASON } from './conntrack.js';
import { blocksPerTick, sweepEvery, SWEEP_TICKS } from './conntrack-sweeper.js';
import { CT_CLOSED, CT_CLOSING, CT_NEW, CT_REPLIED, nextState, timeoutOf, Timeouts } from './conntrack-state.js';
import { FLOW_ALLOW, FLOW_DENY_INGRESS } from './flow-decider.js';

const NOW = 1_700_000_000_000;

function tupleOf(p: Buffer): FlowTuple {
  const t = new FlowTuple();
  expect(readFlow(p, 0, p.length, t)).toBe(FLOW_OWN);
  return t;
}
const udpFlow = (from: string, to: string, sport: number, dport: number) => tupleOf(ipv4(from, to, UDP, udp(sport, dport)));
const tcpFlow = (from: string, to: string, sport: number, dport: number) => tupleOf(ipv4(from, to, TCP, tcp(sport, dport, TCP_SYN)));

describe('the connection table', () => {
  it('finds one entry from either direction of a connection, IPv4 and IPv6', () => {
    const ct = new Conntrack(allocateConntrack(64));
    ct.setKey(udpFlow('10.244.2.7', '10.244.1.5', 53, 5000), false);
    const forward = ct.srcIsA;
    expect(ct.store(flagsOf(CT_NEW, FLOW_ALLOW, !forward), 3, 7, NOW)).toBe(STORED);
    ct.setKey(udpFlow('10.244.1.5', '10.244.2.7', 5000, 53), false);
    expect(ct.srcIsA).toBe(!forward);
    expect(ct.lookup(NOW)).toBeGreaterThanOrEqual(0);
    expect(verdictOf(ct.found[V_FLAGS])).toBe(FLOW_ALLOW);
    expect(ct.found[V_GENERATION]).toBe(3);
    expect(ct.found[V_REASON]).toBe(7);
    // The initiator was the first packet's source: the reply comes from the other side.
    expect(initiatorIsB(ct.found[V_FLAGS]) === ct.srcIsA).toBe(true);
    // Another port, another protocol, another address: other connections.
    ct.setKey(udpFlow('10.244.1.5', '10.244.2.7', 5001, 53), false);
    expect(ct.lookup(NOW)).toBe(-1);
    ct.setKey(tcpFlow('10.244.1.5', '10.244.2.7', 5000, 53), false);
    expect(ct.lookup(NOW)).toBe(-1);
    const six = tupleOf(ipv6('fd00:10:244:1::5', 'fd00:10:244:2::7', TCP, tcp(1, 2, TCP_SYN)));
    ct.setKey(six, false);
    expect(ct.store(flagsOf(CT_NEW, FLOW_DENY_INGRESS, !ct.srcIsA), 1, 0, NOW)).toBe(STORED);
    const back = tupleOf(ipv6('fd00:10:244:2::7', 'fd00:10:244:1::5', TCP, tcp(2, 1, TCP_SYN | TCP_ACK)));
    ct.setKey(back, false);
    expect(ct.lookup(NOW)).toBeGreaterThanOrEqual(0);
    expect(verdictOf(ct.found[V_FLAGS])).toBe(FLOW_DENY_INGRESS);
    expect(ct.stats()).toMatchObject({ entries: 2, max: 64, inserted: 2 });
  });

  it('updates an entry in place only while it is what lookup() read', () => {
    const ct = new Conntrack(allocateConntrack(64));
    ct.setKey(udpFlow('10.244.1.5', '10.244.2.7', 5000, 53), false);
    ct.store(flagsOf(CT_NEW, FLOW_ALLOW, false), 1, -1, NOW);
    const slot = ct.lookup(NOW);
    expect(ct.update(slot, flagsOf(CT_REPLIED, FLOW_ALLOW, false), 1, -1, NOW + 5)).toBe(true);
    // The slot changed since that lookup: a second update from the same read is refused.
    expect(ct.update(slot, flagsOf(CT_NEW, FLOW_ALLOW, false), 1, -1, NOW + 6)).toBe(false);
    ct.lookup(NOW);
    expect(stateOf(ct.found[V_FLAGS])).toBe(CT_REPLIED);
  });

  it('answers from its copy of an entry only while the entry\'s slot is unchanged and recently seen', () => {
    const sab = allocateConntrack(64);
    const ct = new Conntrack(sab);
    const connection = (port: number) => ct.setKey(udpFlow('10.244.1.5', '10.244.2.7', port, 53), false);
    // Two connections whose probe runs start at one slot: removing the first shifts the second into its place.
    const homeOf = (port: number) => (connection(port), ct.table.homeSlot(ct.key));
    let second = 1001;
    while (homeOf(second) !== homeOf(1000)) second++;
    for (const port of [1000, second]) {
      connection(port);
      ct.store(flagsOf(CT_NEW, FLOW_ALLOW, false), 1, port, NOW);
    }
    connection(1000);
    const slot = ct.lookup(NOW);
    expect(ct.found[V_REASON]).toBe(1000);
    expect(ct.lookup(NOW)).toBe(slot);
    expect(ct.found[V_REASON]).toBe(1000);
    expect(ct.copyHits).toBe(1);
    ct.table.lock();
    ct.table.remove(slot);
    ct.table.unlock();
    expect(ct.lookup(NOW)).toBe(-1);
    connection(second);
    expect(ct.lookup(NOW)).toBe(slot);
    expect(ct.found[V_REASON]).toBe(second);
    // Another shard's refresh: the copy is stale, the table answers.
    const other = new Conntrack(sab);
    other.setKey(udpFlow('10.244.2.7', '10.244.1.5', 53, second), false);
    expect(other.update(other.lookup(NOW), flagsOf(CT_REPLIED, FLOW_ALLOW, false), 1, 77, NOW + 1)).toBe(true);
    const hits = ct.copyHits;
    ct.lookup(NOW + 1);
    expect([ct.copyHits, ct.found[V_REASON], stateOf(ct.found[V_FLAGS])]).toEqual([hits, 77, CT_REPLIED]);
    // Our own refresh keeps the copy whole; an entry idle for seconds is read from the table again.
    expect(ct.update(ct.lookup(NOW + 2), flagsOf(CT_REPLIED, FLOW_ALLOW, false), 1, 78, NOW + 2)).toBe(true);
    expect(ct.copyHits).toBe(hits + 1);
    ct.lookup(NOW + 3);
    expect([ct.copyHits, ct.found[V_REASON]]).toEqual([hits + 2, 78]);
    ct.lookup(NOW + 10_000);
    expect([ct.copyHits, ct.found[V_REASON]]).toEqual([hits + 2, 78]);
  });

  it('ages entries per protocol and state, with an injected clock', () => {
    const ct = new Conntrack(allocateConntrack(64));
    const states: Array<[FlowTuple, number, number]> = [
      [tcpFlow('10.244.1.1', '10.244.2.1', 1, 80), CT_NEW, Timeouts.tcpNew],
      [tcpFlow('10.244.1.2', '10.244.2.1', 1, 80), CT_REPLIED, Timeouts.tcpEstablished],
      [tcpFlow('10.244.1.3', '10.244.2.1', 1, 80), CT_CLOSING, Timeouts.tcpClosing],
      [tcpFlow('10.244.1.4', '10.244.2.1', 1, 80), CT_CLOSED, Timeouts.tcpClosed],
      [udpFlow('10.244.1.5', '10.244.2.1', 1, 53), CT_NEW, Timeouts.udpNew],
      [udpFlow('10.244.1.6', '10.244.2.1', 1, 53), CT_REPLIED, Timeouts.udpReplied],
    ];
    for (const [t, state, timeout] of states) {
      ct.setKey(t, false);
      ct.store(flagsOf(state, FLOW_ALLOW, false), 1, -1, NOW);
      ct.lookup(NOW);
      expect(ct.expired(NOW + timeout)).toBe(false);
      expect(ct.expired(NOW + timeout + 1)).toBe(true);
    }
    const sorted = [...new Set(states.map(([, , timeout]) => timeout))].sort((a, b) => a - b);
    let left = states.length;
    for (const timeout of sorted) {
      expect(ct.sweep(NOW + timeout)).toBe(0);
      const gone = states.filter(([, , t]) => t === timeout).length;
      expect(ct.sweep(NOW + timeout + 1)).toBe(gone);
      left -= gone;
      expect(ct.stats().entries).toBe(left);
    }
    expect(ct.stats().expired).toBe(states.length);
    // nf_conntrack's defaults.
    expect(timeoutOf(TCP, CT_REPLIED)).toBe(432_000_000);
    expect(timeoutOf(UDP, CT_NEW)).toBe(30_000);
  });

  it('moves TCP through its states on flags, UDP on the first reply', () => {
    expect(nextState(TCP, CT_NEW, true, TCP_ACK)).toBe(CT_NEW);
    expect(nextState(TCP, CT_NEW, false, TCP_SYN | TCP_ACK)).toBe(CT_REPLIED);
    expect(nextState(TCP, CT_REPLIED, true, TCP_ACK)).toBe(CT_REPLIED);
    expect(nextState(TCP, CT_REPLIED, false, TCP_FIN | TCP_ACK)).toBe(CT_CLOSING);
    expect(nextState(TCP, CT_CLOSING, true, TCP_ACK)).toBe(CT_CLOSING);
    expect(nextState(TCP, CT_REPLIED, true, TCP_RST)).toBe(CT_CLOSED);
    expect(nextState(TCP, CT_CLOSED, false, TCP_ACK)).toBe(CT_CLOSED);
    expect(nextState(UDP, CT_NEW, true, 0)).toBe(CT_NEW);
    expect(nextState(UDP, CT_NEW, false, 0)).toBe(CT_REPLIED);
  });

  it('at the cap, evicts an expired entry, else the longest idle one not established, else stores nothing', () => {
    const max = 16;
    const ct = new Conntrack(allocateConntrack(max));
    for (let k = 0; k < max; k++) {
      ct.setKey(udpFlow('10.244.1.5', '10.244.2.7', 1000 + k, 53), false);
      expect(ct.store(flagsOf(CT_NEW, FLOW_ALLOW, false), 1, -1, NOW + k * 1000)).toBe(STORED);
    }
    // Established entries are kept; the longest idle unreplied one (port 1000) goes.
    ct.setKey(udpFlow('10.244.1.5', '10.244.2.7', 1001, 53), false);
    ct.lookup(NOW);
    ct.update(ct.lookup(NOW), flagsOf(CT_REPLIED, FLOW_ALLOW, false), 1, -1, NOW);
    ct.setKey(udpFlow('10.244.1.5', '10.244.2.7', 2000, 53), false);
    expect(ct.store(flagsOf(CT_NEW, FLOW_ALLOW, false), 1, -1, NOW + 20_000)).toBe(STORED);
    expect(ct.stats()).toMatchObject({ entries: max, evicted: 1 });
    ct.setKey(udpFlow('10.244.1.5', '10.244.2.7', 1000, 53), false);
    expect(ct.lookup(NOW)).toBe(-1);
    ct.setKey(udpFlow('10.244.1.5', '10.244.2.7', 1001, 53), false);
    expect(ct.lookup(NOW)).toBeGreaterThanOrEqual(0);

    // All established: nothing is evicted, and the new flow is not stored.
    const full = new Conntrack(allocateConntrack(max));
    for (let k = 0; k < max; k++) {
      full.setKey(udpFlow('10.244.1.5', '10.244.2.7', 1000 + k, 53), false);
      full.store(flagsOf(k === 5 ? CT_NEW : CT_REPLIED, FLOW_ALLOW, false), 1, -1, NOW);
    }
    full.setKey(udpFlow('10.244.1.5', '10.244.2.7', 1005, 53), false);
    full.update(full.lookup(NOW), flagsOf(CT_REPLIED, FLOW_ALLOW, false), 1, -1, NOW);
    full.setKey(udpFlow('10.244.1.9', '10.244.2.7', 1, 53), false);
    expect(full.store(flagsOf(CT_NEW, FLOW_ALLOW, false), 1, -1, NOW)).toBe(FULL);
    expect(full.stats()).toMatchObject({ entries: max, evicted: 0, full: 1 });
    // Once one has expired (an established UDP flow idle 120 s), it makes room.
    expect(full.store(flagsOf(CT_NEW, FLOW_ALLOW, false), 1, -1, NOW + Timeouts.udpReplied + 1)).toBe(STORED);
    expect(full.stats()).toMatchObject({ entries: max, evicted: 1, full: 1 });
  });

  it('refuses a cap it cannot hold, naming the setting', () => {
    for (const bad of [0, 15, 1.5, Number.NaN, 2 ** 23]) expect(() => allocateConntrack(bad)).toThrow(/^--conntrack-max: .* give an integer/);
    expect(() => allocateConntrack(-1, 'conntrackMax')).toThrow(ConfigError);
  });

  it('is resident from the start: no first packet takes the page faults of a fresh page', () => {
    const residentKiB = () => Number(/^RssAnon:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
    const before = residentKiB();
    const sab = allocateConntrack(1 << 18);
    // Untouched, the 31.5 MiB would not count at all; half of it leaves room for what other threads free meanwhile.
    expect((residentKiB() - before) * 1024).toBeGreaterThan(sab.byteLength / 2);
  });

  it('stays writable without page faults after the process forks a child (nft, ip)', () => {
    const sab = allocateConntrack(1 << 18);
    const words = new Int32Array(sab);
    const pages = words.length / 1024;
    execFileSync('true');
    const before = process.resourceUsage().minorPageFault;
    for (let w = 1; w < words.length; w += 1024) Atomics.compareExchange(words, w, 0, 0);
    // Copy-on-write after the fork would fault on every page (8,064 here); what is left is the test's own heap.
    expect(process.resourceUsage().minorPageFault - before).toBeLessThan(pages / 8);
  });

  it('reports its memory: the slots at twice the cap, and a word per 32 slots for the sweep', () => {
    expect(conntrackBytes(131_072)).toBe(allocateConntrack(131_072).byteLength);
    expect(conntrackBytes(131_072)).toBe((16 + 262_144 * 15) * 4 + (262_144 / 32) * 4);
    expect(conntrackBytes(16)).toBe(allocateConntrack(16).byteLength);
  });

  it('sweeps in slices that cover every slot once per period, from wherever the last one ended', () => {
    const ct = new Conntrack(allocateConntrack(1024));
    const ticks = Math.ceil(ct.blocks / blocksPerTick(ct));
    expect(ticks).toBe(SWEEP_TICKS);
    // An entry in every block: the hash spreads 900 connections over all 64 blocks of 2,048 slots.
    for (let port = 1; port <= 900; port++) {
      ct.setKey(udpFlow('10.244.1.5', '10.244.2.7', port, 53), false);
      expect(ct.store(flagsOf(CT_NEW, FLOW_ALLOW, false), 1, -1, NOW)).toBe(STORED);
    }
    // A slice before anything expired moves the start into the table.
    expect(ct.sweep(NOW, 5)).toBe(0);
    const later = NOW + Timeouts.udpNew + 1;
    let removed = 0;
    for (let tick = 1; tick < ticks; tick++) {
      removed += ct.sweep(later, blocksPerTick(ct));
      // No slice is the whole table: something expired is still there.
      expect(ct.stats().entries).toBeGreaterThan(0);
    }
    removed += ct.sweep(later, blocksPerTick(ct));
    expect([removed, ct.stats().entries, ct.stats().expired]).toEqual([900, 0, 900]);
  });

  it('skips blocks it found empty until a store puts an entry in them again', () => {
    const ct = new Conntrack(allocateConntrack(64));
    ct.setKey(udpFlow('10.244.1.5', '10.244.2.7', 1, 53), false);
    ct.store(flagsOf(CT_NEW, FLOW_ALLOW, false), 1, -1, NOW);
    expect(ct.sweep(NOW + Timeouts.udpNew + 1)).toBe(1);
    // Every block is marked empty now; a later entry marks its own again, and is swept.
    ct.store(flagsOf(CT_NEW, FLOW_ALLOW, false), 1, -1, NOW);
    expect(ct.sweep(NOW)).toBe(0);
    expect(ct.sweep(NOW + Timeouts.udpNew + 1)).toBe(1);
    expect(ct.stats().entries).toBe(0);
  });

  it('ages the whole table once per period on the sweeper\'s ticks', () => {
    vi.useFakeTimers({ now: NOW });
    try {
      const ct = new Conntrack(allocateConntrack(1024));
      for (let port = 1; port <= 900; port++) {
        ct.setKey(udpFlow('10.244.1.5', '10.244.2.7', port, 53), false);
        ct.store(flagsOf(CT_NEW, FLOW_ALLOW, false), 1, -1, NOW);
      }
      const tick = 100;
      const stop = sweepEvery(ct, tick * SWEEP_TICKS);
      // Up to the last tick at which nothing had expired yet, then every tick but one of a period.
      vi.advanceTimersByTime(Timeouts.udpNew);
      expect(ct.stats().entries).toBe(900);
      vi.advanceTimersByTime(tick * (SWEEP_TICKS - 1));
      expect(ct.stats().entries).toBeGreaterThan(0);
      vi.advanceTimersByTime(tick);
      expect(ct.stats().entries).toBe(0);
      stop();
    } finally {
      vi.useRealTimers();
    }
  });
});
