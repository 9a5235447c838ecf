// Regressions found by switch-egress.property.test.ts: a flood too big for a peer's underlay was
// counted only when the slot's verdict from an earlier batch was not already "oversize".
import { describe, expect, it } from 'vitest';
import { MAX_INNER_V4, MAX_INNER_V6, STATION_A, switchWorld } from '../../../test/stage-worlds.js';
import { ETH_HEADER_LEN, HEADROOM } from '../../packet/constants.js';
import { Drop } from '../drop-reasons.js';
import { FORWARDED, PacketBatch } from '../packet-batch.js';
import { forwardFrames } from './switch-egress.js';

/** A frame of `len` bytes to an unknown station (flooded) from a local one, read into slot 0 of a batch whose last verdict there was "oversize". */
function floodAfterOversize(len: number): PacketBatch {
  const b = new PacketBatch(1, 2048);
  STATION_A.copy(b.slab, HEADROOM + 6);
  b.slab.writeUInt16BE(0x0800, HEADROOM + 12);
  b.sizes[0] = len;
  b.verdicts[0] = Drop.oversize;
  return b;
}

describe('switch egress', () => {
  it('counts a flood that no peer can carry, whatever the slot held before', () => {
    const b = floodAfterOversize(MAX_INNER_V4 + ETH_HEADER_LEN + 1);
    const w = switchWorld(1, b.slab);
    forwardFrames(b, 1, w.egress);
    expect(b.verdicts[0]).toBe(Drop.oversize);
    expect(w.block[Drop.oversize]).toBe(1);
    expect(w.send4.count + w.send6.count).toBe(0);
  });

  it('forwards a flood that only the IPv4 underlay carries, and counts the copy it could not send once', () => {
    const b = floodAfterOversize(MAX_INNER_V6 + ETH_HEADER_LEN + 1);
    const w = switchWorld(1, b.slab);
    forwardFrames(b, 1, w.egress);
    expect(b.verdicts[0]).toBe(FORWARDED);
    expect(w.block[Drop.oversize]).toBe(1);
    expect([w.send4.count, w.send6.count]).toEqual([1, 0]);
  });
});
