// The FDB under real concurrency. A switching thread keeps seeing "hot" MACs (lock-free
// refreshes, stamped with the time now) and checks every lookup, while a churn thread learns and
// deletes other MACs, stamped an hour old, and now and then the hot ones (every deletion shifts
// the entries behind it back along their probe run), and the main thread ages. A refresh that
// landed on a slot after a deletion shifted another MAC into it would show as a churn MAC seen
// lately: the churn thread checks its MACs' stamps before it touches them again.
import { describe, expect, it } from 'vitest';
import { distModule, race } from '../../../test/race-workers.js';
import { allocateFdb, Fdb } from './fdb.js';

// 64 slots about half full: long probe runs, so that deletions shift entries.
const MAX = 32;

/** MAC numbers and where each class may live; shared by the threads. */
const CLASSES = `
  const HOT = [1, 2];
  const hotWhere = (n) => n;
  /** Learned and deleted every round, and their deletions shift the others. */
  const CHURN = Array.from({ length: 8 }, (_, i) => 1001 + i);
  const CHURN_WHERE = 100;
  /** Learned every round, deleted every fourth: the MACs a misplaced refresh would land on. */
  const KEPT = Array.from({ length: 8 }, (_, i) => 2001 + i);
  const KEPT_WHERE = 101;
  const mac = (n) => Buffer.from([2, 0, n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
  const numberOf = (text) => parseInt(text.replaceAll(':', ''), 16) - 0x020000000000;
`;

const SWITCHING = `
  const { Fdb, MISS } = await import(workerData.module);
  ${CLASSES}
  const fdb = new Fdb(workerData.sab);
  const hot = HOT.map(mac);
  const all = [...HOT, ...CHURN, ...KEPT];
  const macs = all.map(mac);
  // A lookup may miss an entry being moved (the switch floods), never find one somewhere else.
  const allowed = (n, w) => w === MISS || w === (n < 1000 ? hotWhere(n) : n < 2000 ? CHURN_WHERE : KEPT_WHERE);
  start();
  let lookups = 0;
  for (let batch = 0; running(); batch++) {
    fdb.now = Date.now();
    for (let k = 0; k < 64; k++) {
      for (let i = 0; i < hot.length; i++) fdb.learn(hot[i], 0, hotWhere(HOT[i]));
    }
    for (let i = 0; i < all.length; i++) {
      const w = fdb.lookup(macs[i], 0);
      if (!allowed(all[i], w)) return { lookups, wrong: 'MAC ' + all[i] + ' found at ' + w };
    }
    lookups += all.length;
  }
  return { lookups };
`;

const CHURNER = `
  const { Fdb } = await import(workerData.module);
  ${CLASSES}
  const fdb = new Fdb(workerData.sab);
  const churn = CHURN.map(mac);
  const kept = KEPT.map(mac);
  const hot = HOT.map(mac);
  start();
  let rounds = 0;
  while (running()) {
    const now = Date.now();
    const listed = new Set();
    for (const e of fdb.entries(now)) {
      const n = numberOf(e.mac);
      if (listed.has(n)) return { rounds, wrong: 'MAC ' + n + ' listed twice' };
      listed.add(n);
      if (n > 2000 && now - e.seen < 1_800_000) return { rounds, wrong: 'MAC ' + n + ' (never seen lately) seen ' + (now - e.seen) + ' ms ago' };
    }
    fdb.now = now - 3_600_000;
    for (const m of churn) fdb.learn(m, 0, CHURN_WHERE);
    // The hot MACs, deleted last round, come back behind the churn: its deletion shifts them.
    fdb.now = now;
    for (let i = 0; i < HOT.length; i++) fdb.learn(hot[i], 0, hotWhere(HOT[i]));
    fdb.now = now - 3_600_000;
    for (const m of kept) fdb.learn(m, 0, KEPT_WHERE);
    const forgetKept = rounds % 2 === 0;
    fdb.forgetPeers((id) => !(id === CHURN_WHERE || (forgetKept && id === KEPT_WHERE) || HOT.includes(id)));
    rounds++;
  }
  return { rounds };
`;

interface Switching {
  lookups: number;
  wrong?: string;
}

const mac = (n: number): Buffer => Buffer.from([2, 0, n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
const macNumber = (text: string): number => parseInt(text.replaceAll(':', ''), 16) - 0x020000000000;

describe('FDB, concurrently', () => {
  it('refreshes only the MAC it found while deletions shift entries, and every lookup finds a MAC where it lives', async () => {
    const sab = allocateFdb(MAX);
    const fdb = new Fdb(sab);
    const data = { sab, module: distModule('datapath/switch/fdb.js') };
    const ager = setInterval(() => fdb.age(Date.now(), 600_000), 1);
    let switching: Switching;
    let churning: { rounds: number; wrong?: string };
    try {
      [switching, churning] = await race([
        { body: SWITCHING, data },
        { body: CHURNER, data },
      ]);
    } finally {
      clearInterval(ager);
    }
    expect(churning.wrong).toBeUndefined();
    expect(switching.wrong).toBeUndefined();
    expect(churning.rounds).toBeGreaterThan(8);
    expect(switching.lookups).toBeGreaterThan(0);

    // What stays once the churn goes is exactly the hot MACs, each where it was learned.
    fdb.forgetPeers((id) => id < 100);
    fdb.now = Date.now();
    for (let n = 1; n <= 2; n++) fdb.learn(mac(n), 0, n);
    const entries = fdb.entries(Date.now());
    expect(entries.map((e) => [macNumber(e.mac), e.where]).sort((a, b) => a[0] - b[0])).toEqual([
      [1, 1],
      [2, 2],
    ]);
    expect(fdb.stats().size).toBe(2);
  });
});
