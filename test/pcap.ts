// A reader of classic libpcap files (the format tcpdump -w writes), enough for the fixtures:
// either byte order, microsecond or nanosecond timestamps.
import { readFileSync } from 'node:fs';

export interface Pcap {
  linkType: number;
  packets: Buffer[];
}

const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;
const GLOBAL_HEADER = 24;
const RECORD_HEADER = 16;

export function readPcap(path: string | URL): Pcap {
  const file = readFileSync(path);
  const magicLE = file.readUInt32LE(0);
  const le = magicLE === MAGIC_US || magicLE === MAGIC_NS;
  const magicBE = file.readUInt32BE(0);
  if (!le && magicBE !== MAGIC_US && magicBE !== MAGIC_NS) throw new Error(`${String(path)} is not a pcap file`);
  const u32 = (at: number): number => (le ? file.readUInt32LE(at) : file.readUInt32BE(at));
  const packets: Buffer[] = [];
  for (let at = GLOBAL_HEADER; at + RECORD_HEADER <= file.length; ) {
    const captured = u32(at + 8);
    const original = u32(at + 12);
    if (captured !== original) throw new Error(`${String(path)}: packet at ${at} was cut to ${captured} of ${original} bytes`);
    packets.push(file.subarray(at + RECORD_HEADER, at + RECORD_HEADER + captured));
    at += RECORD_HEADER + captured;
  }
  return { linkType: u32(20), packets };
}
