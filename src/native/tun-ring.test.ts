// Batched TUN reads through io_uring (native/src/tun_ring.h), in a namespace of this test: a
// backlog of datagrams comes out of one readBatch in order with a handful of io_uring_enter calls,
// and datagrams sent by another thread while the queue is read arrive complete and in order, with
// and without the virtio_net_hdr. Needs root.
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labId } from '../lab/netns.js';
import { SEGMENT_SCRATCH_EXTRA, SEGMENT_STATE_WORDS } from './addon.js';

const ADDON_PATH = fileURLToPath(new URL('../../native/build/Release/vxroute.node', import.meta.url));
const BACKLOG = 100;
const FLOOD = 5_000;

// Runs in the namespace. argv: addon, device, tunOpen flags, readBatch flags.
const script = `
  import { createRequire } from 'node:module';
  import { execFileSync } from 'node:child_process';
  import { createSocket } from 'node:dgram';
  import { readFileSync } from 'node:fs';
  import { Worker } from 'node:worker_threads';
  const addon = createRequire(import.meta.url)(process.argv[1]);
  const [dev, openFlags, readFlags] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
  const q = addon.tunOpen(dev, openFlags);
  execFileSync('ip', ['link', 'set', dev, 'addrgenmode', 'none']); // no IPv6 chatter in the queue
  execFileSync('ip', ['addr', 'add', '10.244.9.1/24', 'dev', dev]);
  execFileSync('ip', ['link', 'set', dev, 'up']);
  const stat = (name) => Number(readFileSync('/sys/class/net/' + dev + '/statistics/' + name, 'utf8'));
  const SLOT = 2048, OFFSET = 64, COUNT = 256;
  const slab = Buffer.alloc(SLOT * COUNT), sizes = new Int32Array(COUNT);
  const scratch = Buffer.alloc(readFlags & 1 ? SLOT + ${SEGMENT_SCRATCH_EXTRA} : 0), state = new Int32Array(${SEGMENT_STATE_WORDS});
  const ring = addon.tunRingOpen(readFlags & 1 ? 10 + scratch.length : SLOT - OFFSET);
  const ringStats = new Int32Array(3);
  const fds = Int32Array.of(q.fd);
  // The sequence numbers of our datagrams (UDP to port 9, 4-byte payload) among n packets read.
  const seqs = (n) => {
    const out = [];
    for (let i = 0; i < n; i++) {
      const p = i * SLOT + OFFSET;
      if (sizes[i] === 32 && slab[p + 9] === 17 && slab.readUInt16BE(p + 22) === 9) out.push(slab.readUInt32BE(p + 28));
    }
    return out;
  };
  const read = () => addon.readBatch(q.fd, slab, SLOT, OFFSET, COUNT, sizes, readFlags, scratch, state, ring, ringStats);

  // A backlog: every datagram queued before the first read.
  const tx = createSocket('udp4');
  const payload = Buffer.alloc(4);
  for (let i = 0; i < ${BACKLOG}; i++) {
    payload.writeUInt32BE(i);
    await new Promise((r) => tx.send(payload, 9, '10.244.9.2', r)); // queued on the TUN when sendmsg returns
  }
  addon.poll(fds, 1, 60000);
  const n = read();
  const backlog = { n, seqs: seqs(n), enters: ringStats[1], reads: ringStats[2], buffered: ringStats[0], after: read() };

  // A flood from another thread while this one reads.
  const worker = new Worker(\`
    (async () => {
      const { createSocket } = await import('node:dgram');
      const tx = createSocket('udp4');
      const payload = Buffer.alloc(4);
      for (let i = 0; i < ${FLOOD}; i++) {
        payload.writeUInt32BE(i);
        await new Promise((r) => tx.send(payload, 9, '10.244.9.2', r));
      }
      tx.close();
    })();\`, { eval: true });
  const done = new Promise((r) => worker.once('exit', r));
  let finished = false;
  done.then(() => { finished = true; });
  const dropped0 = stat('tx_dropped');
  const got = [];
  let enters = 0, batches = 0;
  const deadline = Date.now() + 120000; // a bound, not a pace
  for (;;) {
    addon.poll(fds, 1, 10);
    const k = read();
    enters += ringStats[1];
    if (k > 0) batches++;
    for (const s of seqs(k)) got.push(s);
    if (got.length + stat('tx_dropped') - dropped0 >= ${FLOOD} || Date.now() > deadline) break;
    await new Promise((r) => setImmediate(r)); // lets the worker's exit be seen
  }
  await done;
  let inOrder = true;
  for (let i = 1; i < got.length; i++) if (got[i] <= got[i - 1]) inOrder = false;
  const flood = { received: got.length, dropped: stat('tx_dropped') - dropped0, inOrder, enters, batches, finished };
  console.log(JSON.stringify({ backlog, flood }));
  process.exit(0);
`;

describe('batched TUN reads through io_uring (root, in a namespace of this test)', () => {
  const ns = `${labId()}-ring`;
  beforeAll(() => {
    if (process.getuid?.() !== 0) throw new Error('the TUN tests need root');
    execFileSync('ip', ['netns', 'add', ns]);
  });
  afterAll(() => {
    spawnSync('ip', ['netns', 'del', ns]);
  });

  interface Result {
    backlog: { n: number; seqs: number[]; enters: number; reads: number; buffered: number; after: number };
    flood: { received: number; dropped: number; inOrder: boolean; enters: number; batches: number; finished: boolean };
  }

  function run(dev: string, openFlags: number, readFlags: number): Result {
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', script, ADDON_PATH, dev, String(openFlags), String(readFlags)], { encoding: 'utf8', timeout: 300_000 });
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout) as Result;
  }

  function check(result: Result): void {
    const { backlog, flood } = result;
    // One readBatch takes the whole backlog in order: a readv, then reads in doubling batches of at most 32.
    expect(backlog.seqs).toEqual(Array.from({ length: BACKLOG }, (_, i) => i));
    expect(backlog.n).toBe(BACKLOG);
    expect(backlog.enters).toBeGreaterThan(0);
    expect(backlog.enters).toBeLessThanOrEqual(8);
    expect(backlog.reads).toBeGreaterThanOrEqual(BACKLOG - 1);
    expect(backlog.buffered).toBe(0);
    expect(backlog.after).toBe(0);
    // Every datagram of the other thread's flood is either read, in order, or counted as dropped by the TUN.
    expect(flood.finished).toBe(true);
    expect(flood.inOrder).toBe(true);
    expect(flood.received).toBeGreaterThan(0);
    expect(flood.received + flood.dropped).toBe(FLOOD);
  }

  it('reads a plain queue in batches, in order', () => {
    check(run('vxr0', 0, 0));
  });

  it('reads a queue with virtio_net_hdr and TSO in batches, in order', () => {
    check(run('vxr1', 4 | 8, 1)); // TUN_VNET_HDR | TUN_TSO; IO_VNET_HDR
  });
});
