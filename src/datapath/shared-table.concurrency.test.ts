// The route table's sequence lock under real concurrency: a writer thread publishes table after
// table, every word of each entry derived from one number, while reader threads take snapshots
// and check that every snapshot they accept is one whole publication.
import { describe, expect, it } from 'vitest';
import { distModule, race } from '../../test/race-workers.js';
import { allocateTable } from './shared-table.js';

const CAPACITY = 64;

/** Publication v: 1 + v % 64 routes; route i is made of n = v * 64 + i alone. Shared by writer and readers. */
const DERIVE = `
  const CAPACITY = ${CAPACITY};
  const word = (n, k) => (Math.imul(n ^ (k * 0x27d4eb2f), 0x9e3779b1) ^ (n >>> 7)) >>> 0;
  const route = (n) => {
    const family = n & 1 ? 6 : 4;
    const underlayFamily = n & 2 ? 6 : 4;
    return { family, prefixLen: n % (family === 4 ? 33 : 129), underlayFamily, peerId: n, words: Array.from({ length: 10 }, (_, k) => word(n, k)) };
  };
  const countOf = (v) => 1 + (v % CAPACITY);
`;

const WRITER = `
  const { SharedTableWriter } = await import(workerData.module);
  ${DERIVE}
  const writer = new SharedTableWriter(workerData.sab);
  const address = (words, len) => { const b = Buffer.alloc(len); for (let k = 0; k < len / 4; k++) b.writeUInt32BE(words[k], 4 * k); return b; };
  start();
  let v = 0;
  while (running()) {
    v++;
    const routes = [];
    for (let i = 0; i < countOf(v); i++) {
      const r = route(v * CAPACITY + i);
      const mac = Buffer.alloc(6);
      mac.writeUInt32BE(r.words[8]);
      mac.writeUInt16BE(r.words[9] & 0xffff, 4);
      routes.push({ family: r.family, prefix: address(r.words, r.family === 4 ? 4 : 16), prefixLen: r.prefixLen, underlayFamily: r.underlayFamily, underlay: address(r.words.slice(4), r.underlayFamily === 4 ? 4 : 16), vtepMAC: mac, peerId: r.peerId });
    }
    writer.publish(routes);
  }
  return v;
`;

const READER = `
  const { SharedTableReader } = await import(workerData.module);
  ${DERIVE}
  const reader = new SharedTableReader(workerData.sab);
  const tornIn = (s) => {
    const v = Math.floor(s.peerId[0] / CAPACITY);
    if (s.count !== countOf(v)) return 'count ' + s.count + ' in publication ' + v;
    for (let i = 0; i < s.count; i++) {
      const r = route(v * CAPACITY + i);
      const got = [s.family[i], s.prefixLen[i], s.underlayFamily[i], s.peerId[i]];
      const want = [r.family, r.prefixLen, r.underlayFamily, r.peerId];
      for (let k = 0; k < 4; k++) {
        got.push(s.prefix[i * 4 + k], s.underlay[i * 4 + k]);
        want.push(r.family === 4 && k > 0 ? 0 : r.words[k], r.underlayFamily === 4 && k > 0 ? 0 : r.words[4 + k]);
      }
      got.push(Buffer.from(s.mac.subarray(i * 6, i * 6 + 6)).readUIntBE(0, 6));
      want.push(r.words[8] * 0x10000 + (r.words[9] & 0xffff));
      if (got.join() !== want.join()) return 'route ' + i + ' of publication ' + v + ': ' + got.join() + ' instead of ' + want.join();
    }
    return undefined;
  };
  start();
  let accepted = 0;
  let versions = 0;
  let last = -1;
  while (running()) {
    const s = reader.snapshot();
    if (!s || s.count === 0) continue;
    const torn = tornIn(s);
    if (torn) return { accepted, versions, torn };
    accepted++;
    if (s.version !== last) versions++;
    last = s.version;
  }
  return { accepted, versions };
`;

interface ReaderResult {
  accepted: number;
  versions: number;
  torn?: string;
}

describe('shared route table, concurrently', () => {
  it('never hands a reader a snapshot that mixes two publications', async () => {
    const sab = allocateTable(CAPACITY);
    const data = { sab, module: distModule('datapath/shared-table.js') };
    const [publications, ...readers] = await race<[number, ReaderResult, ReaderResult]>([
      { body: WRITER, data },
      { body: READER, data },
      { body: READER, data },
    ]);
    for (const r of readers) {
      expect(r.torn).toBeUndefined();
      // It raced: each reader took whole snapshots of several publications while the writer wrote.
      expect(r.versions).toBeGreaterThan(1);
    }
    expect(publications).toBeGreaterThan(readers[0].versions);
  });
});
