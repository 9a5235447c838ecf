// A trace line of a slot that stood for a whole TSO packet says that its headers are the first
// segment's and how many segments it stood for; an ordinary packet's line says nothing of segments.
import { describe, expect, it } from 'vitest';
import { Direction } from '../datapath/counters.js';
import { FORWARDED } from '../datapath/packet-batch.js';
import type { TraceEntry } from '../datapath/trace-ring.js';
import { decodeEntry } from '../metrics/trace-decode.js';
import { formatRecord } from './trace.js';

/** The first 40 bytes of a TCP segment 10.244.1.2:40000 → 10.244.1.3:5201, 1,500 bytes long. */
function tcpSegment(): Buffer {
  const b = Buffer.alloc(40);
  b[0] = 0x45;
  b.writeUInt16BE(1500, 2);
  b[8] = 63;
  b[9] = 6;
  Buffer.from([10, 244, 1, 2, 10, 244, 1, 3]).copy(b, 12);
  b.writeUInt16BE(40000, 20);
  b.writeUInt16BE(5201, 22);
  b[32] = 0x50;
  b[33] = 0x18;
  return b;
}

const entry = (segments: number): TraceEntry => ({ worker: 0, direction: Direction.tun, verdict: FORWARDED, peer: -1, length: 1500, time: 0, source: new Uint32Array(4), policy: -1, segments, bytes: tcpSegment() });

describe('trace lines of whole TSO packets', () => {
  it('name the segments a whole packet stood for after its first segment\'s headers', () => {
    const r = decodeEntry(entry(45), () => undefined);
    expect(r.segments).toBe(45);
    expect(formatRecord(r)).toMatch(/10\.244\.1\.2 > 10\.244\.1\.3 TCP 40000 > 5201 \[PSH,ACK\] len 1500 ttl 63 {2}\(first of 45 segments, kept whole\)$/);
  });

  it('say nothing of segments for a packet that stood for itself', () => {
    const r = decodeEntry(entry(1), () => undefined);
    expect(r.segments).toBeUndefined();
    expect(formatRecord(r)).not.toMatch(/segments/);
  });
});
