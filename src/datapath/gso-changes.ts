// UDP GSO going on or off on the shards' sockets: the message a shard posts, and the main
// thread's view per underlay family, so that a change is logged once however many shards see it.

export interface GsoChange {
  type: 'udp-gso';
  worker: number;
  family: 4 | 6;
  on: boolean;
  /** What turned it off: EIO from a send (tried again in retryMs), or the probe's errno (for good). */
  errno: number;
  retryMs: number;
}

export function isGsoChange(message: unknown): message is GsoChange {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'udp-gso';
}

export class GsoFamilies {
  /** Per family, the workers whose socket has GSO off. */
  private readonly off = new Map<4 | 6, Set<number>>([[4, new Set()], [6, new Set()]]);

  /** Folds in one shard's change; returns it when it changes the family: its first socket off, or its last back on. */
  fold(change: GsoChange): GsoChange | undefined {
    const off = this.off.get(change.family)!;
    const before = off.size;
    if (change.on) off.delete(change.worker);
    else off.add(change.worker);
    return (before === 0) !== (off.size === 0) ? change : undefined;
  }
}
