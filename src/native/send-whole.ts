// The words readBatch writes beside each slot when a pod's TSO packets may leave whole as
// tunnel-GSO frames (native/src/tunnel_gso_frame.h WholeSendWord): a slot whose `segments` is 2 or
// more holds only the first segment of a TSO packet read from the TUN, which waits in the read's
// scratch buffer until the next read and leaves as ONE frame (or is cut at the send); it stands for
// `segments` packets and `bytes` IP bytes (what cutting it would have made). The same layout as
// the receive's words (whole-tso.ts) for those two, so PacketBatch.packetsOf reads either; the
// other words are the native send's and checked there.
import { SEGMENT_SCRATCH_EXTRA } from './addon.js';
import { WHOLE_WORDS, WholeWord } from './whole-tso.js';

export const WHOLE_SEND_WORDS = WHOLE_WORDS;
export const WholeSendWord = WholeWord;

/** Most TSO packets one read keeps whole (native kMaxWholeReads). */
export const WHOLE_READS = 8;

/** The read's scratch buffer when it keeps TSO packets whole: a slot and 64 KiB for each, in 64-byte steps. */
export function wholeSendScratchBytes(slotSize: number): number {
  return WHOLE_READS * (Math.ceil((slotSize + SEGMENT_SCRATCH_EXTRA) / 64) * 64);
}

/** writeBatch flag (native/src/tun.cc kIoWholeRead): the whole words and area are the queue's own read's, for packets written back to it. */
export const IO_WHOLE_READ = 32;
