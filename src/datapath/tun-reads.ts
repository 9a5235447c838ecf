// How a shard reads its TUN queue: `uring` submits up to 32 reads in one io_uring_enter
// (native/src/tun_ring.h); `readv` makes one syscall per packet. io_uring is refused by kernels
// built without it, by kernel.io_uring_disabled and by container seccomp profiles (Docker's
// default among them): then readv runs, and the log says why (docs/decisions.md "Batched TUN reads").
import { constants } from 'node:os';
import { addon } from '../native/addon.js';

export type TunReads = 'uring' | 'readv';

/** What runs when `wanted` is asked for here, and the errno's name when io_uring was refused. */
export function resolveTunReads(wanted: TunReads): { reads: TunReads; refused?: string } {
  if (wanted === 'readv') return { reads: 'readv' };
  const err = addon.tunRingProbe();
  if (err === 0) return { reads: 'uring' };
  const name = Object.entries(constants.errno).find(([, n]) => n === err)?.[0] ?? `errno ${err}`;
  return { reads: 'readv', refused: name };
}
