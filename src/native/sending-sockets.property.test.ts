// The sending sockets over loopback: each VXLAN datagram leaves from the socket its inner flow
// hashes to (native/src/flow_hash.h), so one flow keeps one source port in the local port range
// and its order, both directions of a flow share it, flows spread over the ports, and what
// reaches a sending socket is dropped before its queue.
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ENCAP_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6, VXLAN_HEADER_LEN } from '../packet/constants.js';
import { writeEthernetHeader } from '../packet/ethernet.js';
import { writeVxlanHeader } from '../packet/vxlan.js';
import { ipv4, ipv6, TCP, UDP } from '../../test/flow-packets.js';
import { propertyRuns } from '../../test/property-runs.js';
import { addon, UDP_STATE_WORDS } from './addon.js';

const SOCKETS = 16;
const LOOPBACK = { 4: { bind: '127.0.0.1', words: [0x7f000001, 0, 0, 0] }, 6: { bind: '::1', words: [0, 0, 0, 1] } } as const;
const MAC_A = Uint8Array.of(0x0a, 0x58, 0, 0, 0, 1);
const MAC_B = Uint8Array.of(0x0a, 0x58, 0, 0, 0, 2);

interface Flow {
  inner: 4 | 6;
  protocol: number;
  src: number;
  dst: number;
  sport: number;
  dport: number;
}

/** A VXLAN datagram of `flow` whose transport payload carries the flow's index and a sequence number (after the ports). */
function datagram(flow: Flow, index: number, seq: number, length: number): Buffer {
  const l4 = Buffer.alloc(Math.max(12, length));
  l4.writeUInt16BE(flow.sport, 0);
  l4.writeUInt16BE(flow.dport, 2);
  l4.writeUInt32BE(seq, 4);
  l4.writeUInt32BE(index, 8);
  const packet =
    flow.inner === 4
      ? ipv4(`10.244.${flow.src >> 8}.${flow.src & 255}`, `10.244.${flow.dst >> 8}.${flow.dst & 255}`, flow.protocol, l4)
      : ipv6(`fd00:10:244::${flow.src.toString(16)}`, `fd00:10:244::${flow.dst.toString(16)}`, flow.protocol, l4);
  const d = Buffer.alloc(ENCAP_LEN + packet.length);
  writeVxlanHeader(d, 0, 1);
  writeEthernetHeader(d, VXLAN_HEADER_LEN, MAC_B, MAC_A, flow.inner === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6);
  packet.copy(d, ENCAP_LEN);
  return d;
}

/** Where the transport payload of a datagram built by `datagram` starts. */
function l4Offset(d: Buffer): number {
  return ENCAP_LEN + (d.readUInt16BE(VXLAN_HEADER_LEN + 12) === ETHERTYPE_IPV4 ? 20 : 40);
}

interface Received {
  port: number;
  index: number;
  seq: number;
}

class Pool {
  readonly fds: Int32Array;
  readonly ports: Set<number>;
  readonly state = new Int32Array(UDP_STATE_WORDS);
  readonly receiver: Socket;
  readonly received: Received[] = [];

  constructor(readonly family: 4 | 6) {
    this.fds = Int32Array.from({ length: SOCKETS }, () => addon.udpOpenSender(family, LOOPBACK[family].bind));
    this.ports = new Set(Array.from(this.fds, (fd) => addon.localPort(fd)));
    expect(addon.udpGsoProbe(this.fds[0], this.state)).toBe(0);
    this.receiver = createSocket(family === 4 ? 'udp4' : 'udp6');
    this.receiver.on('message', (msg, rinfo) => {
      const at = l4Offset(msg);
      this.received.push({ port: rinfo.port, seq: msg.readUInt32BE(at + 4), index: msg.readUInt32BE(at + 8) });
    });
  }

  async bind(): Promise<void> {
    await new Promise<void>((resolve) => this.receiver.bind(0, LOOPBACK[this.family].bind, resolve));
  }

  /** Sends `datagrams` in one sendBatch through the pool; returns how many left. */
  send(datagrams: Buffer[]): number {
    const slot = 2048;
    const slab = Buffer.alloc(datagrams.length * slot);
    const offsets = new Int32Array(datagrams.length);
    const lengths = new Int32Array(datagrams.length);
    const addrs = new Uint32Array(datagrams.length * 4);
    datagrams.forEach((d, i) => {
      offsets[i] = i * slot + 64;
      lengths[i] = d.length;
      d.copy(slab, offsets[i]);
      addrs.set(LOOPBACK[this.family].words, i * 4);
    });
    return addon.sendBatch(this.fds, this.family, slab, offsets, lengths, addrs, this.receiver.address().port, datagrams.length, this.state);
  }

  /** Waits for `count` datagrams and hands them over. */
  async take(count: number): Promise<Received[]> {
    await vi.waitFor(() => expect(this.received.length).toBe(count), { timeout: 5000, interval: 5 });
    return this.received.splice(0);
  }

  close(): void {
    this.fds.forEach((fd) => addon.close(fd));
    this.receiver.close();
  }
}

const flowArb: fc.Arbitrary<Flow> = fc.record({
  inner: fc.constantFrom(4 as const, 6 as const),
  protocol: fc.constantFrom(TCP, UDP),
  src: fc.integer({ min: 1, max: 0xfffe }),
  dst: fc.integer({ min: 1, max: 0xfffe }),
  sport: fc.integer({ min: 1, max: 65535 }),
  dport: fc.integer({ min: 1, max: 65535 }),
});

describe.each([4, 6] as const)('sending sockets over IPv%i loopback', (family) => {
  let pool: Pool;
  beforeAll(async () => {
    pool = new Pool(family);
    await pool.bind();
  });
  afterAll(() => pool.close());

  it('are bound to distinct ports of the local port range', () => {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    expect(pool.ports.size).toBe(SOCKETS);
    for (const port of pool.ports) {
      expect(port).toBeGreaterThanOrEqual(low);
      expect(port).toBeLessThanOrEqual(high);
    }
  });

  it('send every packet of a flow from one of their ports, in order, whatever the batch around it', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(flowArb, { minLength: 1, maxLength: 8 }),
        fc.array(fc.tuple(fc.nat(), fc.constantFrom(12, 400, 900)), { minLength: 1, maxLength: 48 }),
        fc.integer({ min: 1, max: 48 }),
        async (flows, packets, batch) => {
          const datagrams = packets.map(([f, length], seq) => datagram(flows[f % flows.length], f % flows.length, seq, length));
          for (let i = 0; i < datagrams.length; i += batch) {
            const part = datagrams.slice(i, i + batch);
            expect(pool.send(part)).toBe(part.length);
          }
          const received = await pool.take(datagrams.length);
          const portOf = new Map<number, number>();
          const lastSeq = new Map<number, number>();
          for (const r of received) {
            expect(pool.ports.has(r.port)).toBe(true);
            expect(portOf.get(r.index) ?? r.port, `flow ${r.index}`).toBe(r.port);
            portOf.set(r.index, r.port);
            expect(r.seq, `flow ${r.index} in order`).toBeGreaterThan(lastSeq.get(r.index) ?? -1);
            lastSeq.set(r.index, r.seq);
          }
          // Flows of equal fields are one flow: the same port.
          flows.forEach((f, i) => {
            const j = flows.findIndex((g) => JSON.stringify(g) === JSON.stringify(f));
            if (portOf.has(i) && portOf.has(j)) expect(portOf.get(i)).toBe(portOf.get(j));
          });
        },
      ),
      { numRuns: propertyRuns(30) },
    );
  });

  it('send both directions of a flow from one port', async () => {
    await fc.assert(
      fc.asyncProperty(flowArb, async (f) => {
        const back: Flow = { ...f, src: f.dst, dst: f.src, sport: f.dport, dport: f.sport };
        expect(pool.send([datagram(f, 0, 0, 12), datagram(back, 1, 0, 12)])).toBe(2);
        const [a, b] = await pool.take(2);
        expect(a.port).toBe(b.port);
      }),
      { numRuns: propertyRuns(100) },
    );
  });

  it('spread flows over their ports', async () => {
    const flows: Flow[] = Array.from({ length: 512 }, (_, k) => ({ inner: k % 2 ? 4 : 6, protocol: TCP, src: 1 + (k >> 4), dst: 2, sport: 40000 + k, dport: 5201 }));
    const perPort = new Map<number, number>();
    for (let k = 0; k < flows.length; k += 64) {
      expect(pool.send(flows.slice(k, k + 64).map((f, i) => datagram(f, k + i, 0, 12)))).toBe(64);
      for (const r of await pool.take(64)) perPort.set(r.port, (perPort.get(r.port) ?? 0) + 1); // a batch at a time: the receive buffer holds it
    }
    const mean = flows.length / SOCKETS;
    expect(perPort.size).toBe(SOCKETS);
    for (const n of perPort.values()) expect(n).toBeLessThan(2 * mean);
  });

  it('send every fragment of an inner datagram from the port of its first', async () => {
    const first = datagram({ inner: 4, protocol: UDP, src: 7, dst: 9, sport: 1234, dport: 53 }, 0, 0, 400);
    const frags = [0, 1, 2].map((k) => {
      const d = Buffer.from(first);
      d.writeUInt16BE((k < 2 ? 0x2000 : 0) | (k * 50), ENCAP_LEN + 6); // MF and the offset (RFC 791 §3.1)
      if (k > 0) d.fill(k, ENCAP_LEN + 20, ENCAP_LEN + 24); // a later fragment has no ports
      d.writeUInt32BE(k, ENCAP_LEN + 24);
      return d;
    });
    expect(pool.send(frags)).toBe(3);
    const received = await pool.take(3);
    expect(new Set(received.map((r) => r.port)).size).toBe(1);
  });

  it('drop what reaches them before it is queued', async () => {
    const fd = pool.fds[0];
    const port = addon.localPort(fd);
    const before = udpSocketRow(family, port);
    const sender = createSocket(family === 4 ? 'udp4' : 'udp6');
    await new Promise<void>((resolve, reject) => sender.send(Buffer.alloc(100), port, LOOPBACK[family].bind, (err) => (err ? reject(err) : resolve())));
    sender.close();
    await vi.waitFor(() => expect(udpSocketRow(family, port).drops).toBe(before.drops + 1), { timeout: 5000, interval: 5 });
    expect(udpSocketRow(family, port).queued).toBe(0);
  });
});

/** The row of /proc/net/udp(6) for the socket bound to local `port`: bytes in its receive queue and its drops. */
function udpSocketRow(family: 4 | 6, port: number): { queued: number; drops: number } {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const rows = readFileSync(family === 4 ? '/proc/net/udp' : '/proc/net/udp6', 'utf8').split('\n').slice(1);
  for (const row of rows) {
    const f = row.trim().split(/\s+/);
    if (f.length < 13 || !f[1].endsWith(`:${hexPort}`)) continue;
    return { queued: parseInt(f[4].split(':')[1], 16), drops: Number(f[12]) };
  }
  throw new Error(`no UDP socket on port ${port} in /proc/net/udp${family === 6 ? '6' : ''}`);
}
