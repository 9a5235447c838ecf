// Reading the counter blocks: sums over workers, and a reused peer id that starts from zero
// without the reader writing into a worker's block.
import { describe, expect, it } from 'vitest';
import { CounterReader } from './counter-snapshot.js';
import { CounterLayout, ShardCounters } from './counters.js';
import { PeerIds } from './peer-ids.js';

describe('CounterReader', () => {
  it('counts a reused peer id from zero and leaves the workers’ blocks alone', () => {
    const layout = new CounterLayout(2, 1);
    const sab = layout.allocate();
    const shards = [0, 1].map((w) => new ShardCounters(layout.block(sab, w), layout));
    const reader = new CounterReader(layout, sab);
    const peers = new PeerIds(1);
    peers.update(['old']);
    shards.forEach((s, w) => {
      s.now = 1000 + w;
      s.rx(0, 100);
      s.tx(0, 50);
    });
    expect(reader.snapshot(peers).peers).toEqual([{ name: 'old', rxPackets: 2, rxBytes: 200, txPackets: 2, txBytes: 100, lastSeen: 1001 }]);

    peers.update([]);
    expect(peers.update(['new']).reused).toEqual([0]);
    const blocks = new Float64Array(sab).slice();
    reader.resetPeer(0);
    expect(new Float64Array(sab)).toEqual(blocks);
    expect(reader.snapshot(peers).peers).toEqual([{ name: 'new', rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, lastSeen: null }]);

    shards[1].now = 2000;
    shards[1].rx(0, 70);
    expect(reader.snapshot(peers).peers).toEqual([{ name: 'new', rxPackets: 1, rxBytes: 70, txPackets: 0, txBytes: 0, lastSeen: 2000 }]);
  });
});
