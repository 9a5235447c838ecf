// VXLAN header (RFC 7348 §5): flags(8) reserved(24) VNI(24) reserved(8).
export const VXLAN_FLAG_I = 0x08; // the VNI is valid; every other flag bit is reserved and sent as 0

export function writeVxlanHeader(buf: Buffer, off: number, vni: number): void {
  buf[off] = VXLAN_FLAG_I;
  buf[off + 1] = 0;
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  buf[off + 4] = (vni >>> 16) & 0xff;
  buf[off + 5] = (vni >>> 8) & 0xff;
  buf[off + 6] = vni & 0xff;
  buf[off + 7] = 0;
}

export function readVxlanFlags(buf: Buffer, off: number): number {
  return buf[off];
}

export function readVxlanVni(buf: Buffer, off: number): number {
  return (buf[off + 4] << 16) | (buf[off + 5] << 8) | buf[off + 6];
}
