// The words recvBatch writes beside each slot when messages may stay whole
// (native/src/received_whole.h): a slot whose `segments` is 2 or more holds only the first
// segment of a kernel peer's unsegmented TSO packet, or the first datagram of a UDP GRO buffer
// that is one TCP run (a vxroute peer's), which waits in the socket's receive area and goes to
// the TUN as one GSO write; it stands for `segments` packets and `bytes` inner IP bytes (what
// cutting it would have made). The other words are the native write's and checked there.
export const WHOLE_WORDS = 7;
export const WholeWord = Object.freeze({ segments: 0, bytes: 1 });
