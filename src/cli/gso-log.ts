// One log line when UDP GSO goes off or back on for an underlay family: which, the errno, what it means.
import { constants } from 'node:os';
import type { GsoChange } from '../datapath/gso-changes.js';
import type { Logger } from './log.js';

const errnoName = (errno: number): string => Object.entries(constants.errno).find(([, n]) => n === errno)?.[0] ?? `errno ${errno}`;

export function logGsoChange(log: Logger, change: GsoChange): void {
  const underlay = `IPv${change.family} underlay`;
  const fields = { family: change.family, worker: change.worker, errno: change.on ? undefined : errnoName(change.errno) };
  if (change.on) {
    log.info(fields, `UDP GSO back on for the ${underlay}: its routes segment again`);
  } else if (change.errno === constants.errno.EIO) {
    log.warn(
      { ...fields, retrySeconds: change.retryMs / 1000 },
      `UDP GSO off for the ${underlay}: a route refused a GSO run with EIO (its device lacks transmit checksum offload on kernels before 6.11, or an IPsec/xfrm policy covers it); datagrams leave one per send, nothing was lost, GSO is tried again after a back-off`,
    );
  } else {
    log.info(fields, `UDP GSO unavailable for the ${underlay}: the kernel does not know UDP_SEGMENT (Linux before 4.18); datagrams leave one per send`);
  }
}
