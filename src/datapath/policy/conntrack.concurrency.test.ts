// The connection table under real concurrency: two shard threads store and look up connections
// (each its own long-lived ones, and a set both store, from either direction), refresh them
// lock-free, and churn short-lived entries stamped an hour ago, which the main thread's sweep
// removes (every removal shifts the entries behind it back along their probe run). Most lookups
// are answered from the shard's own copy of the entry, trusted on one atomic load of the slot's
// sequence. Every entry carries its connection's id in its values: a torn read, a copy trusted
// after its slot changed, or a refresh that landed on an entry shifted into its slot, shows as
// values that do not belong to their key.
import { describe, expect, it } from 'vitest';
import { distModule, race } from '../../../test/race-workers.js';
import { allocateConntrack, Conntrack } from './conntrack.js';

// 128 slots, at most about 60 used: long probe runs, so that removals shift entries.
const MAX = 64;
const LONG = [Array.from({ length: 8 }, (_, k) => 1 + k), Array.from({ length: 8 }, (_, k) => 11 + k)];
const SHARED = Array.from({ length: 8 }, (_, k) => 101 + k);
const KEPT = [...LONG[0], ...LONG[1], ...SHARED];

const SHARD = `
  const { Conntrack, flagsOf, FULL, V_GENERATION, V_REASON } = await import(workerData.conntrack);
  const { FlowTuple } = await import(workerData.tuple);
  const ct = new Conntrack(workerData.sab);
  const t = new FlowTuple();
  // Connection id: 10.244.0.1 port id <-> 10.244.0.2 port 50000, UDP; 'back' is the reply direction.
  const connection = (id, back) => {
    t.src.fill(0); t.dst.fill(0);
    t.src[10] = t.src[11] = t.dst[10] = t.dst[11] = 0xff;
    t.src[12] = t.dst[12] = 10; t.src[13] = t.dst[13] = 244;
    t.src[15] = back ? 2 : 1; t.dst[15] = back ? 1 : 2;
    t.protocol = 17;
    t.srcPort = back ? 50000 : id; t.dstPort = back ? id : 50000;
    ct.setKey(t, false);
  };
  const REPLIED = 1;
  const store = (id, now) => {
    for (;;) {
      const r = ct.store(flagsOf(REPLIED, 0, false), id ^ 0x5555, id, now);
      if (r !== FULL) return;
    }
  };
  const kept = [...workerData.long, ...workerData.shared];
  start();
  for (const id of kept) { connection(id, id % 2 === 0); store(id, Date.now()); }
  let lookups = 0, misses = 0, refreshes = 0, rounds = 0;
  while (running()) {
    const now = Date.now();
    for (const id of kept) {
      connection(id, (id + rounds) % 2 === 0);
      const slot = ct.lookup(now);
      lookups++;
      if (slot < 0) { misses++; continue; } // a lookup may miss an entry a removal is moving
      if (ct.found[V_REASON] !== id || ct.found[V_GENERATION] !== (id ^ 0x5555)) return { lookups, wrong: 'connection ' + id + ' read as ' + ct.found[V_REASON] };
      if (ct.update(slot, flagsOf(REPLIED, 0, false), id ^ 0x5555, id, now)) refreshes++;
    }
    for (let k = 0; k < 16; k++) {
      const id = workerData.churn + k;
      connection(id, k % 2 === 0);
      ct.store(flagsOf(0, 0, false), id ^ 0x5555, id, now - 3_600_000);
    }
    rounds++;
  }
  return { lookups, misses, refreshes, rounds, copyHits: ct.copyHits };
`;

interface Shard {
  lookups: number;
  misses: number;
  refreshes: number;
  rounds: number;
  copyHits: number;
  wrong?: string;
}

/** Every entry's connection id (from its key: endpoint A's port, the high half of the last key word) and its values. */
function walk(ct: Conntrack): Array<{ id: number; reason: number; generation: number }> {
  const key = new Int32Array(10);
  const values = new Int32Array(4);
  const out: Array<{ id: number; reason: number; generation: number }> = [];
  ct.table.readEach(key, values, () => out.push({ id: key[9] >>> 16, reason: values[2], generation: values[1] }));
  return out;
}

describe('the connection table, concurrently', () => {
  it('keeps one whole entry per connection while shards store, refresh and look up and the sweep removes', async () => {
    const sab = allocateConntrack(MAX);
    const ct = new Conntrack(sab);
    const data = { sab, conntrack: distModule('datapath/policy/conntrack.js'), tuple: distModule('packet/flow-tuple.js'), shared: SHARED };
    const torn: string[] = [];
    let sweeps = 0;
    const ager = setInterval(() => {
      sweeps += ct.sweep(Date.now()) > 0 ? 1 : 0;
      for (const e of walk(ct)) if (e.reason !== e.id || e.generation !== (e.id ^ 0x5555)) torn.push(`entry ${e.id} holds ${e.reason}`);
    }, 1);
    let shards: Shard[];
    try {
      shards = await race<Shard[]>([
        { body: SHARD, data: { ...data, long: LONG[0], churn: 1000 } },
        { body: SHARD, data: { ...data, long: LONG[1], churn: 2000 } },
      ]);
    } finally {
      clearInterval(ager);
    }
    for (const s of shards) {
      expect(s.wrong).toBeUndefined();
      expect(s.rounds).toBeGreaterThan(8);
      expect(s.refreshes).toBeGreaterThan(0);
      expect(s.copyHits).toBeGreaterThan(0);
    }
    expect(torn).toEqual([]);
    expect(sweeps).toBeGreaterThan(0);

    // The churn expired; what stays is every kept connection, once, with its own values.
    ct.sweep(Date.now());
    const left = walk(ct);
    expect(left.map((e) => e.id).sort((a, b) => a - b)).toEqual([...KEPT].sort((a, b) => a - b));
    for (const e of left) expect([e.reason, e.generation]).toEqual([e.id, e.id ^ 0x5555]);
    expect(ct.stats().entries).toBe(KEPT.length);
  });

  it('stores a first packet that meets the lock held by another thread, after waiting for it', async () => {
    const sab = allocateConntrack(MAX);
    const data = { sab, conntrack: distModule('datapath/policy/conntrack.js'), tuple: distModule('packet/flow-tuple.js') };
    // The holder takes the lock before the gate and lets go only once the storer is seen waiting.
    const HOLDER = `
      const { Conntrack } = await import(workerData.conntrack);
      const ct = new Conntrack(workerData.sab);
      ct.table.lock();
      start();
      const nap = new Int32Array(new SharedArrayBuffer(4));
      while (ct.stats().waited === 0 && running()) Atomics.wait(nap, 0, 0, 1);
      const seen = ct.stats().waited;
      ct.table.unlock();
      return seen;
    `;
    const STORER = `
      const { Conntrack, flagsOf, STORED } = await import(workerData.conntrack);
      const { FlowTuple } = await import(workerData.tuple);
      const ct = new Conntrack(workerData.sab);
      const t = new FlowTuple();
      t.src[10] = t.src[11] = t.dst[10] = t.dst[11] = 0xff;
      t.src[12] = t.dst[12] = 10; t.src[13] = t.dst[13] = 244; t.src[15] = 1; t.dst[15] = 2;
      t.protocol = 17; t.srcPort = 40000; t.dstPort = 53;
      ct.setKey(t, false);
      start();
      return ct.store(flagsOf(0, 0, false), 1, 7, Date.now()) === STORED;
    `;
    const [seen, stored] = await race<[number, boolean]>([
      { body: HOLDER, data },
      { body: STORER, data },
    ]);
    expect(seen).toBe(1);
    expect(stored).toBe(true);
    expect(new Conntrack(sab).stats()).toMatchObject({ entries: 1, waited: 1 });
  });
});
