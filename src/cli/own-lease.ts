// Our own node's lease as the newest table gives it. The shards keep the VTEP MACs they started
// with (a new one needs a restart), so a change of them is worth one warning, not one per table.
import type { NodeLease } from '../subnets/subnet-table.js';

export class OwnLease {
  constructor(private lease: NodeLease) {}

  get current(): NodeLease {
    return this.lease;
  }

  /** Takes `next` as ours; true when its VTEP MACs differ from the lease before it. */
  take(next: NodeLease): boolean {
    const changed = !next.vtepMAC.equals(this.lease.vtepMAC) || !next.vtepMACv6.equals(this.lease.vtepMACv6);
    this.lease = next;
    return changed;
  }
}
