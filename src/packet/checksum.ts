// RFC 1071 internet checksum in JavaScript, for the few packets the datapath builds or checks
// itself (ICMP errors, neighbour advertisements, the ND frames it learns from). The checksums of
// TSO segments and coalesced runs are summed in the native addon.

/** Adds the 16-bit big-endian words of buf[off .. off+len] to `sum` (odd byte padded with 0). Not folded. */
export function onesComplementSum(buf: Buffer, off: number, len: number, sum = 0): number {
  const end = off + (len & ~1);
  let i = off;
  for (; i < end; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (len & 1) sum += buf[i] << 8;
  return sum;
}

export function foldSum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** The checksum field value for buf[off .. off+len] plus a partial sum (e.g. a pseudo-header). */
export function internetChecksum(buf: Buffer, off: number, len: number, seed = 0): number {
  return ~foldSum(onesComplementSum(buf, off, len, seed)) & 0xffff;
}

/** RFC 8200 §8.1 IPv6 pseudo-header sum over addresses at buf[srcOff] and buf[dstOff]. */
export function pseudoHeaderSumV6(buf: Buffer, srcOff: number, dstOff: number, nextHeader: number, length: number): number {
  return onesComplementSum(buf, srcOff, 16, onesComplementSum(buf, dstOff, 16, nextHeader + (length >>> 16) + (length & 0xffff)));
}
