// One warning, the first time a peer's VXLAN datagrams are too big to receive. A kernel node whose
// underlay is a veth with tx offload on sends its GSO packets unsegmented: its TCP (TSO) packets we
// cut into segments, but not its UDP GSO packets (a pod's UDP_SEGMENT sends), which end up here.
import type { Datapath } from '../datapath/datapath.js';
import type { Logger } from './log.js';

const CHECK_EVERY_MS = 2000;

/** Watches the `oversize_datagram` drops and warns once with the fix; returns the stop function. */
export function warnOnOversizeDatagrams(datapath: Datapath, log: Logger): () => void {
  const timer = setInterval(() => {
    const dropped = datapath.counters().drops.oversize_datagram;
    if (dropped === 0) return;
    clearInterval(timer);
    log.warn(
      { dropped },
      'a peer sends VXLAN datagrams larger than our underlay carries that are no TCP packets we can cut (dropped as oversize_datagram): a kernel VXLAN node whose underlay is a veth with tx checksum offload on sends its pods\' UDP GSO packets unsegmented. Fix on that node: ethtool -K <underlay> tx off',
    );
  }, CHECK_EVERY_MS).unref();
  return () => clearInterval(timer);
}
