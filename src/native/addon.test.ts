// The native addon on its own: checksums against the JavaScript reference, the worker wake-up,
// UDP batches over loopback, and TUN queues inside a network namespace of the test's own.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { internetChecksum } from '../packet/checksum.js';
import { labId } from '../lab/netns.js';
import { addon, RECV_SCRATCH_BYTES, RECV_STATE_WORDS, RecvState, UDP_STATE_WORDS, UdpState } from './addon.js';

const ADDON_PATH = fileURLToPath(new URL('../../native/build/Release/vxroute.node', import.meta.url));

describe('checksum', () => {
  it('matches RFC 1071 §3 and the JavaScript reference at any offset and length', () => {
    expect(addon.checksum(Buffer.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), 0, 8, 0)).toBe(0x220d);
    const buf = randomBytes(300);
    for (let len = 0; len <= 200; len++) {
      const off = (len * 7) % 97;
      const seed = (len * 40503) & 0xfffff;
      expect(addon.checksum(buf, off, len, seed), `len ${len}`).toBe(internetChecksum(buf, off, len, seed));
    }
  });

  it('refuses ranges outside the buffer and wrong types', () => {
    expect(() => addon.checksum(Buffer.alloc(8), 4, 8, 0)).toThrow(RangeError);
    expect(() => addon.checksum(Buffer.alloc(8), -1, 2, 0)).toThrow(RangeError);
    expect(() => addon.checksum('nope' as unknown as Buffer, 0, 0, 0)).toThrow(TypeError);
  });
});

describe('eventfd and poll', () => {
  it('times out when not signalled, wakes when signalled, is clear after a drain', () => {
    const fd = addon.eventfdOpen();
    try {
      const fds = Int32Array.of(fd);
      expect(addon.poll(fds, 1, 10)).toBe(0);
      addon.eventfdSignal(fd);
      expect(addon.poll(fds, 1, 10)).toBe(1);
      addon.eventfdDrain(fd);
      expect(addon.poll(fds, 1, 10)).toBe(0);
    } finally {
      addon.close(fd);
    }
  });

  it('spins for the budget it is given, then polls as asked; refuses a budget out of range', () => {
    const fd = addon.eventfdOpen();
    try {
      const fds = Int32Array.of(fd);
      expect(addon.poll(fds, 1, 0, 2000)).toBe(0);
      addon.eventfdSignal(fd);
      expect(addon.poll(fds, 1, 0, 2000)).toBe(1);
      addon.eventfdDrain(fd);
      expect(() => addon.poll(fds, 1, 0, -1)).toThrow(RangeError);
      expect(() => addon.poll(fds, 1, 0, 1_000_001)).toThrow(RangeError);
    } finally {
      addon.close(fd);
    }
  });

  it('wakes a worker blocked in poll() with no timeout', async () => {
    const fd = addon.eventfdOpen();
    try {
      const worker = new Worker(
        `const { parentPort, workerData } = require('node:worker_threads');
         const addon = require(workerData.path);
         parentPort.postMessage('blocking');
         const ready = addon.poll(Int32Array.of(workerData.fd), 1, -1); // only the eventfd can end it
         parentPort.postMessage({ ready });`,
        { eval: true, workerData: { path: ADDON_PATH, fd } },
      );
      const messages: unknown[] = [];
      const done = new Promise<{ ready: number }>((resolve, reject) => {
        worker.on('message', (m) => {
          messages.push(m);
          // Signalled shortly after, so that the worker is most likely inside poll(); either order must wake it.
          if (m === 'blocking') setTimeout(() => addon.eventfdSignal(fd), 100);
          else resolve(m as { ready: number });
        });
        worker.on('error', reject);
      });
      const result = await done;
      await worker.terminate();
      expect(result.ready).toBe(1);
    } finally {
      addon.close(fd);
    }
  });
});

describe('epoll set', () => {
  it('reports each ready fd as the bit of its index, leaves out a -1, clears after a drain', () => {
    const a = addon.eventfdOpen();
    const b = addon.eventfdOpen();
    const ep = addon.epollOpen(Int32Array.of(a, -1, b), 3);
    try {
      expect(addon.epollWait(ep, 10)).toBe(0);
      addon.eventfdSignal(b);
      expect(addon.epollWait(ep, 10)).toBe(0b100);
      addon.eventfdSignal(a);
      expect(addon.epollWait(ep, 10)).toBe(0b101);
      addon.eventfdDrain(a);
      addon.eventfdDrain(b);
      expect(addon.epollWait(ep, 10)).toBe(0);
    } finally {
      for (const fd of [ep, a, b]) addon.close(fd);
    }
  });

  it('spins for the budget it is given, then waits as asked; refuses bad counts, fds and budgets', () => {
    const fd = addon.eventfdOpen();
    const ep = addon.epollOpen(Int32Array.of(fd), 1);
    try {
      expect(addon.epollWait(ep, 0, 2000)).toBe(0);
      addon.eventfdSignal(fd);
      expect(addon.epollWait(ep, 0, 2000)).toBe(1);
      expect(() => addon.epollWait(ep, 0, -1)).toThrow(RangeError);
      expect(() => addon.epollWait(ep, 0, 1_000_001)).toThrow(RangeError);
      expect(() => addon.epollOpen(Int32Array.of(fd), 2)).toThrow(RangeError);
      expect(() => addon.epollOpen(Int32Array.of(fd), 0)).toThrow(RangeError);
      expect(() => addon.epollOpen(Int32Array.of(1_000_000), 1)).toThrow(/epoll_ctl/);
    } finally {
      addon.close(ep);
      addon.close(fd);
    }
  });

  it('writes the wake\'s wall-clock and monotonic time into the clock it is given; refuses a short or untyped clock', () => {
    const fd = addon.eventfdOpen();
    const ep = addon.epollOpen(Int32Array.of(fd), 1);
    try {
      const clock = new Float64Array(2);
      const wallBefore = Date.now();
      const monotonicBefore = Number(process.hrtime.bigint()) / 1e6;
      expect(addon.epollWait(ep, 20, 0, clock)).toBe(0); // a timeout: the clock still moves
      const wallAfter = Date.now();
      const monotonicAfter = Number(process.hrtime.bigint()) / 1e6;
      // Read at the wake: between the two reads around the call (Date.now() whole ms, the clock's fractional).
      expect(clock[0]).toBeGreaterThanOrEqual(wallBefore);
      expect(clock[0]).toBeLessThanOrEqual(wallAfter + 1);
      expect(clock[1]).toBeGreaterThanOrEqual(monotonicBefore);
      expect(clock[1]).toBeLessThanOrEqual(monotonicAfter);
      addon.eventfdSignal(fd);
      const first = clock[1]!;
      expect(addon.epollWait(ep, 1000, 0, clock)).toBe(1);
      expect(clock[1]).toBeGreaterThanOrEqual(first);
      expect(() => addon.epollWait(ep, 0, 0, new Float64Array(1))).toThrow(RangeError);
      expect(() => addon.epollWait(ep, 0, 0, new Float32Array(2) as unknown as Float64Array)).toThrow(TypeError);
    } finally {
      addon.close(ep);
      addon.close(fd);
    }
  });

  it('wakes a worker blocked in epollWait() with no timeout, whether signalled before or during the wait', async () => {
    const fd = addon.eventfdOpen();
    const ep = addon.epollOpen(Int32Array.of(fd), 1);
    try {
      const worker = new Worker(
        `const { parentPort, workerData } = require('node:worker_threads');
         const addon = require(workerData.path);
         parentPort.postMessage('blocking');
         const ready = addon.epollWait(workerData.ep, -1); // only the eventfd can end it
         parentPort.postMessage({ ready });`,
        { eval: true, workerData: { path: ADDON_PATH, ep } },
      );
      const result = await new Promise<{ ready: number }>((resolve, reject) => {
        worker.on('message', (m) => {
          if (m === 'blocking') addon.eventfdSignal(fd);
          else resolve(m as { ready: number });
        });
        worker.on('error', reject);
      });
      await worker.terminate();
      expect(result.ready).toBe(1);
    } finally {
      addon.close(ep);
      addon.close(fd);
    }
  });
});

describe('UDP batches on loopback', () => {
  const SLOT = 2048;
  const OFFSET = 42;
  let a: number;
  let b: number;
  let portB: number;
  const state = new Int32Array(UDP_STATE_WORDS);
  const scratch = Buffer.allocUnsafeSlow(RECV_SCRATCH_BYTES);
  const recvState = new Int32Array(RECV_STATE_WORDS);
  /** recvBatch with the receive area every socket of the datapath uses. */
  const recv = (fd: number, slab: Buffer, slotSize: number, offset: number, count: number, sizes: Int32Array, addrs: Uint32Array): number =>
    addon.recvBatch(fd, slab, slotSize, offset, count, sizes, addrs, scratch, recvState, 1450);
  beforeAll(() => {
    a = addon.udpOpen(4, '127.0.0.1', 0);
    b = addon.udpOpen(4, '127.0.0.1', 0);
    portB = addon.localPort(b);
    expect(addon.udpGsoProbe(a, state)).toBe(0);
  });
  afterAll(() => {
    addon.close(a);
    addon.close(b);
  });

  function slab(payloads: Buffer[]): { slab: Buffer; offsets: Int32Array; lengths: Int32Array; addrs: Uint32Array } {
    const s = Buffer.alloc(payloads.length * SLOT);
    const offsets = new Int32Array(payloads.length);
    const lengths = new Int32Array(payloads.length);
    const addrs = new Uint32Array(payloads.length * 4);
    payloads.forEach((p, i) => {
      offsets[i] = i * SLOT + 64;
      lengths[i] = p.length;
      p.copy(s, offsets[i]);
      addrs[i * 4] = 0x7f000001;
    });
    return { slab: s, offsets, lengths, addrs };
  }

  it('sends a batch with sendmmsg and receives it in order with recvmmsg', () => {
    const payloads = [1, 100, 1400, 0, 1500].map((n) => randomBytes(n));
    const out = slab(payloads);
    expect(addon.sendBatch(a, 4, out.slab, out.offsets, out.lengths, out.addrs, portB, payloads.length, state)).toBe(5);
    const rx = Buffer.alloc(8 * SLOT);
    const sizes = new Int32Array(8);
    const addrs = new Uint32Array(32).fill(0xdead);
    expect(addon.poll(Int32Array.of(b), 1, 1000)).toBe(1);
    const n = recv(b, rx, SLOT, OFFSET, 8, sizes, addrs);
    expect(n).toBe(5);
    payloads.forEach((p, i) => {
      expect(sizes[i]).toBe(p.length);
      expect(rx.subarray(i * SLOT + OFFSET, i * SLOT + OFFSET + p.length)).toEqual(p);
      expect([...addrs.subarray(i * 4, i * 4 + 4)]).toEqual([0x7f000001, 0, 0, 0]);
    });
    expect(recv(b, rx, SLOT, OFFSET, 8, sizes, addrs)).toBe(0); // empty: returns at once
  });

  it('sends runs of equal datagrams to one peer with UDP GSO, and they arrive as the same datagrams', () => {
    // 6 full-size to B, a shorter last one of the run, then 2 of another size: three GSO runs at most.
    const payloads = [...Array.from({ length: 6 }, () => randomBytes(1000)), randomBytes(300), randomBytes(700), randomBytes(700)];
    const out = slab(payloads);
    state[UdpState.gsoRuns] = 0;
    expect(addon.sendBatch(a, 4, out.slab, out.offsets, out.lengths, out.addrs, portB, payloads.length, state)).toBe(payloads.length);
    expect(state[UdpState.gsoRuns]).toBe(2); // the 7 to B of 1000 (300 last), then the two of 700
    expect(state[UdpState.gso]).toBe(1);
    const rx = Buffer.alloc(16 * SLOT);
    const sizes = new Int32Array(16);
    const addrs = new Uint32Array(64);
    let n = 0;
    while (n < payloads.length && addon.poll(Int32Array.of(b), 1, 1000) === 1) {
      const got = recv(b, rx.subarray(n * SLOT), SLOT, OFFSET, 16 - n, sizes.subarray(n), addrs.subarray(n * 4));
      n += got;
    }
    expect(n).toBe(payloads.length);
    payloads.forEach((p, i) => expect(rx.subarray(i * SLOT + OFFSET, i * SLOT + OFFSET + sizes[i])).toEqual(p));
  });

  it('marks a datagram larger than its slot with size -1', () => {
    const big = randomBytes(SLOT);
    expect(addon.sendBatch(a, 4, big, Int32Array.of(0), Int32Array.of(SLOT), Uint32Array.of(0x7f000001, 0, 0, 0), portB, 1, state)).toBe(1);
    const sizes = new Int32Array(1);
    addon.poll(Int32Array.of(b), 1, 1000);
    expect(recv(b, Buffer.alloc(SLOT), SLOT, OFFSET, 1, sizes, new Uint32Array(4))).toBe(1);
    expect(sizes[0]).toBe(-1);
  });

  it('skips a datagram the kernel refuses and sends the rest', () => {
    const s = Buffer.alloc(70_000);
    const offsets = Int32Array.of(0, 0, 0);
    const lengths = Int32Array.of(10, 66_000, 20); // the middle one is over the 65507-byte UDP limit
    const addrs = Uint32Array.of(0x7f000001, 0, 0, 0, 0x7f000001, 0, 0, 0, 0x7f000001, 0, 0, 0);
    expect(addon.sendBatch(a, 4, s, offsets, lengths, addrs, portB, 3, state)).toBe(2);
    const sizes = new Int32Array(4);
    addon.poll(Int32Array.of(b), 1, 1000);
    const n = recv(b, Buffer.alloc(4 * SLOT), SLOT, 0, 4, sizes, new Uint32Array(16));
    expect([...sizes.subarray(0, n)]).toEqual([10, 20]);
  });

  it('lets several sockets share a port (SO_REUSEPORT) and speaks IPv6', () => {
    const shared = addon.udpOpen(4, '127.0.0.1', 0);
    const port = addon.localPort(shared);
    const again = addon.udpOpen(4, '127.0.0.1', port);
    expect(addon.localPort(again)).toBe(port);
    addon.close(again);
    addon.close(shared);

    const v6 = addon.udpOpen(6, '::1', 0);
    const state6 = new Int32Array(UDP_STATE_WORDS);
    addon.udpGsoProbe(v6, state6);
    const out = slab([Buffer.from('six')]);
    out.addrs.set([0, 0, 0, 1], 0);
    expect(addon.sendBatch(v6, 6, out.slab, out.offsets, out.lengths, out.addrs, addon.localPort(v6), 1, state6)).toBe(1);
    const sizes = new Int32Array(1);
    const addrs = new Uint32Array(4);
    addon.poll(Int32Array.of(v6), 1, 1000);
    expect(recv(v6, Buffer.alloc(SLOT), SLOT, 0, 1, sizes, addrs)).toBe(1);
    expect(sizes[0]).toBe(3);
    expect([...addrs]).toEqual([0, 0, 0, 1]);
    addon.close(v6);
  });

  it('with UDP_GRO, takes a GSO run whole and cuts it into its datagrams, carrying over to the next call what does not fit', () => {
    const c = addon.udpOpen(4, '127.0.0.1', 0);
    try {
      expect(addon.udpGro(c)).toBe(0);
      const payloads = [...Array.from({ length: 9 }, () => randomBytes(1000)), randomBytes(300)];
      const out = slab(payloads);
      state[UdpState.gsoRuns] = 0;
      expect(addon.sendBatch(a, 4, out.slab, out.offsets, out.lengths, out.addrs, addon.localPort(c), payloads.length, state)).toBe(payloads.length);
      expect(state[UdpState.gsoRuns]).toBe(1);
      recvState.fill(0); // nothing pending from another socket, no count carried over
      const rx = Buffer.alloc(6 * SLOT);
      const sizes = new Int32Array(6);
      const addrs = new Uint32Array(24);
      expect(addon.poll(Int32Array.of(c), 1, 1000)).toBe(1);
      // 10 datagrams, 6 slots: one recvmmsg of one message, 4 datagrams left in the scratch area.
      expect(recv(c, rx, SLOT, OFFSET, 6, sizes, addrs)).toBe(6);
      expect(recvState[RecvState.groBuffers]).toBe(1);
      expect(recvState[RecvState.messages]).toBeGreaterThan(0);
      const got = [...sizes].map((n, i) => Buffer.from(rx.subarray(i * SLOT + OFFSET, i * SLOT + OFFSET + n)));
      expect(recv(c, rx, SLOT, OFFSET, 6, sizes, addrs)).toBe(4);
      expect(recvState[RecvState.messages]).toBe(0);
      got.push(...[...sizes.subarray(0, 4)].map((n, i) => Buffer.from(rx.subarray(i * SLOT + OFFSET, i * SLOT + OFFSET + n))));
      expect(got).toEqual(payloads);
      expect([...addrs.subarray(12, 16)]).toEqual([0x7f000001, 0, 0, 0]);
      expect(recv(c, rx, SLOT, OFFSET, 6, sizes, addrs)).toBe(0);
    } finally {
      addon.close(c);
    }
  });

  it('refuses layouts outside its buffers', () => {
    const sizes = new Int32Array(4);
    expect(() => addon.recvBatch(b, Buffer.alloc(SLOT), SLOT, 0, 1, sizes, new Uint32Array(4), Buffer.alloc(65_536), new Int32Array(RECV_STATE_WORDS), 1450)).toThrow(RangeError);
    expect(() => addon.recvBatch(b, Buffer.alloc(SLOT), SLOT, 0, 1, sizes, new Uint32Array(4), Buffer.alloc(RECV_SCRATCH_BYTES), new Int32Array(4), 1450)).toThrow(RangeError);
    expect(() => recv(b, Buffer.alloc(100), 64, 0, 4, sizes, new Uint32Array(16))).toThrow(RangeError);
    expect(() => recv(b, Buffer.alloc(4096), 64, 64, 1, sizes, new Uint32Array(4))).toThrow(RangeError);
    expect(() => addon.sendBatch(a, 4, Buffer.alloc(10), Int32Array.of(5), Int32Array.of(6), new Uint32Array(4), portB, 1, state)).toThrow(RangeError);
    expect(() => addon.sendBatch(a, 4, Buffer.alloc(10), new Int32Array(300), new Int32Array(300), new Uint32Array(1200), portB, 300, state)).toThrow(RangeError);
    expect(() => addon.sendBatch(a, 4, Buffer.alloc(10), Int32Array.of(0), Int32Array.of(1), new Uint32Array(4), portB, 1, new Int32Array(2))).toThrow(RangeError);
  });
});

describe('TUN queues (root, in a namespace of this test)', () => {
  const ns = `${labId()}-addon`;
  beforeAll(() => {
    if (process.getuid?.() !== 0) throw new Error('the TUN tests need root');
    execFileSync('ip', ['netns', 'add', ns]);
  });
  afterAll(() => {
    spawnSync('ip', ['netns', 'del', ns]);
  });

  // Runs in the namespace: two queues of one device, a datagram routed into the TUN and read
  // back from a queue, and a crafted packet written into the TUN that a socket receives.
  const script = `
    import { createRequire } from 'node:module';
    import { execFileSync } from 'node:child_process';
    import { createSocket } from 'node:dgram';
    const addon = createRequire(import.meta.url)(process.argv[1]);
    const q0 = addon.tunOpen('vxt0', 2), q1 = addon.tunOpen('vxt0', 2);
    execFileSync('ip', ['addr', 'add', '10.244.9.1/24', 'dev', 'vxt0']);
    execFileSync('ip', ['link', 'set', 'vxt0', 'addrgenmode', 'none']); // no IPv6 chatter in the queues
    execFileSync('ip', ['link', 'set', 'vxt0', 'up']);
    const result = { names: [q0.name, q1.name] };
    const tx = createSocket('udp4');
    await new Promise((r) => tx.send(Buffer.from('into the tun'), 9, '10.244.9.2', r));
    const fds = Int32Array.of(q0.fd, q1.fd);
    const ready = addon.poll(fds, 2, 60000); // returns as soon as the packet is queued
    const fd = ready & 1 ? q0.fd : q1.fd;
    const slab = Buffer.alloc(4 * 2048), sizes = new Int32Array(4);
    const n = addon.readBatch(fd, slab, 2048, 64, 4, sizes);
    result.read = { n, packet: slab.subarray(64, 64 + sizes[0]).toString('hex') };
    const rx = createSocket('udp4');
    await new Promise((r) => rx.bind(7000, '10.244.9.1', r));
    const got = new Promise((r) => rx.once('message', (m, from) => r({ text: m.toString(), from: from.address })));
    result.written = addon.writeBatch(q1.fd, Buffer.from(process.argv[2], 'hex'), Int32Array.of(0), Int32Array.of(process.argv[2].length / 2), 1);
    result.received = await Promise.race([got, new Promise((r) => setTimeout(() => r(null), 60000).unref())]); // a bound, not a pace
    execFileSync('ip', ['link', 'add', 'vxd0', 'type', 'bridge']);
    try { addon.tunOpen('vxd0', 2); } catch (e) { result.error = { code: e.code, syscall: e.syscall, message: e.message }; }
    console.log(JSON.stringify(result));
    process.exit(0);
  `;

  it('opens two queues, reads a routed packet from one and delivers a written packet', async () => {
    const { writeIpv4Header } = await import('../packet/ipv4.js');
    const { parseIpv4 } = await import('../address/ip-text.js');
    const { writeUdpHeader } = await import('../../test/udp-header.js');
    const payload = Buffer.from('out of the tun');
    const pkt = Buffer.alloc(28 + payload.length);
    writeIpv4Header(pkt, 0, pkt.length, 1, 64, 17, parseIpv4('10.244.9.2'), parseIpv4('10.244.9.1'), false);
    writeUdpHeader(pkt, 20, 4000, 7000, payload.length);
    payload.copy(pkt, 28);

    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', script, ADDON_PATH, pkt.toString('hex')], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const result = JSON.parse(r.stdout) as {
      names: string[]; read: { n: number; packet: string }; written: number;
      received: { text: string; from: string } | null; error: { code: string; syscall: string; message: string };
    };
    expect(result.names).toEqual(['vxt0', 'vxt0']);
    expect(result.read.n).toBe(1);
    const read = Buffer.from(result.read.packet, 'hex');
    expect(read[0] >> 4).toBe(4);
    expect(read.subarray(16, 20)).toEqual(Buffer.from([10, 244, 9, 2]));
    expect(read.subarray(28).toString()).toBe('into the tun');
    expect(result.written).toBe(1);
    expect(result.received).toEqual({ text: 'out of the tun', from: '10.244.9.2' });
    expect(result.error).toMatchObject({ code: 'EINVAL', syscall: 'ioctl TUNSETIFF' });
    expect(result.error.message).toMatch(/exists with other flags/);
  });

  /** A TCP segment (ACK) 10.244.9.2:40000 → 10.244.9.1:`port` at sequence `seq` with `payload` bytes, checksums valid. */
  async function tcpSegment(port: number, seq: number, payload: number): Promise<Buffer> {
    const { writeIpv4Header } = await import('../packet/ipv4.js');
    const pkt = Buffer.alloc(40 + payload);
    writeIpv4Header(pkt, 0, pkt.length, 1, 64, 6, 0x0af40902, 0x0af40901, true);
    pkt.writeUInt16BE(40000, 20);
    pkt.writeUInt16BE(port, 22);
    pkt.writeUInt32BE(seq, 24);
    pkt[32] = 5 << 4;
    pkt[33] = 0x10;
    for (let i = 0; i < payload; i++) pkt[40 + i] = (i * 7 + port) & 0xff;
    const pseudo = Buffer.alloc(12);
    pkt.copy(pseudo, 0, 12, 20);
    pseudo[9] = 6;
    pseudo.writeUInt16BE(20 + payload, 10);
    let seed = 0;
    for (let i = 0; i < 12; i += 2) seed += pseudo.readUInt16BE(i);
    pkt.writeUInt16BE(addon.checksum(pkt, 20, 20 + payload, seed), 36);
    return pkt;
  }

  it('coalesces two interleaved flows into one GSO write each', async () => {
    // A B A B A B A B: before the flow table only adjacent segments merged, which made 8 writes.
    const packets = await Promise.all(Array.from({ length: 8 }, (_, i) => tcpSegment(5201 + (i % 2), 0x10000000 + Math.floor(i / 2) * 1000, 1000)));
    const slab = Buffer.concat(packets);
    const offsets = Int32Array.from(packets.map((_, i) => i * 1040));
    const lengths = new Int32Array(8).fill(1040);
    const script = `
      import { createRequire } from 'node:module';
      import { execFileSync } from 'node:child_process';
      import { readFileSync } from 'node:fs';
      const addon = createRequire(import.meta.url)(process.argv[1]);
      const q = addon.tunOpen('vxc0', 4 | 8); // IFF_VNET_HDR, TUNSETOFFLOAD
      execFileSync('ip', ['addr', 'add', '10.244.9.1/24', 'dev', 'vxc0']);
      execFileSync('ip', ['link', 'set', 'vxc0', 'addrgenmode', 'none']);
      execFileSync('ip', ['link', 'set', 'vxc0', 'up']);
      const rx = () => Number(readFileSync('/sys/class/net/vxc0/statistics/rx_packets', 'utf8'));
      const before = rx();
      const stats = new Int32Array(2);
      const [slab, offsets, lengths] = [Buffer.from(process.argv[2], 'hex'), JSON.parse(process.argv[3]), JSON.parse(process.argv[4])];
      const written = addon.writeBatch(q.fd, slab, Int32Array.from(offsets), Int32Array.from(lengths), offsets.length, 1 | 2, stats);
      console.log(JSON.stringify({ written, writes: stats[0], received: rx() - before }));
      process.exit(0);
    `;
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', script, ADDON_PATH, slab.toString('hex'), JSON.stringify([...offsets]), JSON.stringify([...lengths])], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const result = JSON.parse(r.stdout) as { written: number; writes: number; received: number };
    expect(result).toEqual({ written: 8, writes: 2, received: 2 }); // the TUN counts one packet per GSO write
  });
});
