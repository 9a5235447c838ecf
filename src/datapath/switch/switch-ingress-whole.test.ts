// acceptFrames over a slot that stands for a whole TSO packet or run (its first segment's frame,
// b.whole saying how many segments and inner IP bytes): forwarded once, counted as its segments
// and their frames' bytes; dropped, counted as its segments too.
import { describe, expect, it } from 'vitest';
import { vxlanFrame } from '../../../test/frames.js';
import { addressWords, B, PEER_B, switchWorld } from '../../../test/stage-worlds.js';
import { WholeWord } from '../../native/whole-tso.js';
import { ETH_HEADER_LEN, VXLAN_HEADER_LEN } from '../../packet/constants.js';
import { PeerSlot } from '../counters.js';
import { Drop } from '../drop-reasons.js';
import { FORWARDED, PacketBatch } from '../packet-batch.js';
import { acceptFrames, RX_OFFSET_L2 } from './switch-ingress.js';

const SEGMENTS = 5;
const IP_BYTES = 4 * 1450 + 700;

/** A batch of one datagram from peer B whose inner frame has `payload` UDP bytes, its slot standing for SEGMENTS packets. */
function wholeSlot(payload: number): PacketBatch {
  const b = new PacketBatch(1, 2048);
  const d = vxlanFrame({ dstMac: '02:00:00:00:01:05', srcMac: '02:00:00:00:02:09', src: '10.244.2.9', dst: '10.244.1.5', payload });
  d.copy(b.slab, RX_OFFSET_L2);
  b.sizes[0] = d.length;
  b.addrs.set(addressWords(B.underlayV4!), 0);
  b.whole[WholeWord.segments] = SEGMENTS;
  b.whole[WholeWord.bytes] = IP_BYTES;
  return b;
}

describe('switch ingress, a whole slot', () => {
  it('forwards its first frame once and counts the segments and their frames’ bytes', () => {
    const b = wholeSlot(1000);
    const w = switchWorld(1, b.slab);
    expect(acceptFrames(b, 1, w.ingress, 4)).toBe(1);
    expect(b.verdicts[0]).toBe(FORWARDED);
    expect(b.outLengths[0]).toBe(b.sizes[0] - VXLAN_HEADER_LEN);
    const rx = w.layout.peerSlot(PEER_B, PeerSlot.rxPackets);
    expect(w.block[rx]).toBe(SEGMENTS);
    expect(w.block[rx + 1]).toBe(IP_BYTES + SEGMENTS * ETH_HEADER_LEN);
  });

  it('counts a drop as the segments it stands for', () => {
    const b = wholeSlot(1600); // a first segment larger than the TAP takes
    const w = switchWorld(1, b.slab);
    expect(acceptFrames(b, 1, w.ingress, 4)).toBe(0);
    expect(b.verdicts[0]).toBe(Drop.oversize);
    expect(w.block[Drop.oversize]).toBe(SEGMENTS);
    expect(w.block[w.layout.peerSlot(PEER_B, PeerSlot.rxPackets)]).toBe(0);
  });
});
