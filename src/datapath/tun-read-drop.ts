// A negative size from a TUN/TAP read: the native layer checked the read against its
// virtio_net_hdr and dropped it; the code says why (native/src/tso_split.h).
import { ReadDrop } from '../native/addon.js';
import { Drop } from './drop-reasons.js';

const byCode = new Int32Array(5).fill(Drop.malformed_inner);
byCode[ReadDrop.badVnetHdr] = Drop.bad_vnet_hdr;
byCode[ReadDrop.badGso] = Drop.bad_gso;
byCode[ReadDrop.badTsoHeaders] = Drop.bad_tso_headers;
byCode[ReadDrop.oversize] = Drop.oversize;

/** The drop reason of a read whose size is negative. */
export function tunReadDrop(size: number): number {
  return -size < byCode.length ? byCode[-size] : Drop.malformed_inner;
}
