// One warning, the first time a peer's VXLAN datagrams are too big to receive: almost always a
// kernel node whose underlay is a veth with tx offload on, sending its TSO packets unsegmented.
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
      'a peer sends VXLAN datagrams larger than our underlay carries (dropped as oversize_datagram; TCP from it stalls): a kernel VXLAN node whose underlay is a veth with tx checksum offload on sends its TSO packets unsegmented. Fix on that node: ethtool -K <underlay> tx off',
    );
  }, CHECK_EVERY_MS).unref();
  return () => clearInterval(timer);
}
