// The leases of the subnet table, kept up to date one node at a time: a node's change costs a few
// lookups in the prefix indexes and a splice of the sorted list, not a walk and sort of every
// lease. A pod CIDR claimed twice is resolved as before: first claim wins, in the order our own
// node first, then by name; a node left out for an overlap claims nothing, so a node it overlaps
// that comes later is kept unless another kept node overlaps it too.
import { PrefixIndex } from './prefix-index.js';
import type { Cidr } from './cidr.js';
import type { NodeLease } from './subnet-table.js';

interface Claim {
  lease: NodeLease;
  /** In the table; false while an earlier kept lease overlaps one of its pod CIDRs. */
  kept: boolean;
  /** kept has been decided at least once (a new claim is not yet). */
  decided: boolean;
}

const FAMILIES = ['podCIDR', 'podCIDRv6'] as const;

export interface LeaseTableEvents {
  /** A lease is left out of the table, and why. */
  left(name: string, why: string): void;
  /** A lease left out before is in the table again. */
  back(name: string): void;
}

export class LeaseTable {
  private readonly claims = new Map<string, Claim>();
  private readonly v4 = new PrefixIndex<Claim>(4);
  private readonly v6 = new PrefixIndex<Claim>(6);
  /** The kept leases, sorted by name. */
  private readonly kept: NodeLease[] = [];
  /** Names whose kept lease came, went or was replaced since takeChanged. */
  private changed = new Set<string>();
  /** Claims whose kept state may have changed, settled in claim order (reused). */
  private readonly unsettled = new Set<Claim>();

  constructor(
    /** Our own node: its claim comes before every other. */
    private readonly ownName: string,
    private readonly events: LeaseTableEvents,
  ) {}

  /** Every kept lease, sorted by name: a new array, so a table handed out never changes. */
  nodes(): NodeLease[] {
    return this.kept.slice();
  }

  /** The names whose kept lease came, went or was replaced since the last call (a superset: a name may come back as it was). */
  takeChanged(): ReadonlySet<string> {
    const changed = this.changed;
    this.changed = new Set();
    return changed;
  }

  /** Sets a node's lease, or removes it (undefined). The same lease object again changes nothing. */
  set(name: string, lease: NodeLease | undefined): void {
    const before = this.claims.get(name);
    if (before?.lease === lease) return;
    if (before) {
      this.claims.delete(name);
      for (const key of FAMILIES) if (before.lease[key]) this.index(before.lease[key]).delete(before.lease[key], before);
      if (before.kept) {
        this.removeKept(name);
        this.unsettleAfter(before); // a node it kept out may be back
      }
    }
    if (lease) {
      const claim: Claim = { lease, kept: false, decided: false };
      this.claims.set(name, claim);
      for (const key of FAMILIES) if (lease[key]) this.index(lease[key]).add(lease[key], claim);
      this.unsettled.add(claim);
    }
    this.settle();
  }

  private index(cidr: Cidr): PrefixIndex<Claim> {
    return cidr.family === 4 ? this.v4 : this.v6;
  }

  /** Decides the unsettled claims, earliest first; a claim that comes or goes unsettles the later ones it overlaps. */
  private settle(): void {
    while (this.unsettled.size > 0) {
      const claim = this.earliestUnsettled();
      this.unsettled.delete(claim);
      const why = this.overlapOf(claim);
      const kept = why === undefined;
      if (claim.decided && kept === claim.kept) continue;
      claim.decided = true;
      if (kept) {
        this.insertKept(claim.lease);
        this.events.back(claim.lease.name);
      } else {
        if (claim.kept) this.removeKept(claim.lease.name);
        this.events.left(claim.lease.name, why);
      }
      const changed = kept !== claim.kept; // a new claim left out changes nothing for the others
      claim.kept = kept;
      if (changed) this.unsettleAfter(claim);
    }
  }

  /** A plain scan: only overlapping claims are ever unsettled together, a handful at most. */
  private earliestUnsettled(): Claim {
    let earliest: Claim | undefined;
    for (const c of this.unsettled) if (!earliest || this.before(c, earliest)) earliest = c;
    return earliest!;
  }

  /** Why a claim is left out: an earlier kept claim overlaps it (the earliest such, IPv4 first); undefined when it is kept. */
  private overlapOf(claim: Claim): string | undefined {
    for (const key of FAMILIES) {
      const cidr = claim.lease[key];
      if (!cidr) continue;
      let first: Claim | undefined;
      this.index(cidr).overlapping(cidr, (other) => {
        if (other !== claim && other.kept && this.before(other, claim) && (!first || this.before(other, first))) first = other;
      });
      if (first) return `pod CIDR ${cidr.text} overlaps ${first.lease[key]!.text} of ${first.lease.name}`;
    }
    return undefined;
  }

  /** Marks every later claim that overlaps `claim` as unsettled. */
  private unsettleAfter(claim: Claim): void {
    for (const key of FAMILIES) {
      const cidr = claim.lease[key];
      if (cidr) this.index(cidr).overlapping(cidr, (other) => {
        if (other !== claim && this.before(claim, other)) this.unsettled.add(other);
      });
    }
  }

  /** Claim order: our own node first, then by name. */
  private before(a: Claim, b: Claim): boolean {
    const x = a.lease.name;
    const y = b.lease.name;
    if (x === this.ownName) return y !== this.ownName;
    if (y === this.ownName) return false;
    return x < y;
  }

  /** Index of the first kept lease whose name sorts at or after `name`. */
  private position(name: string): number {
    let lo = 0;
    let hi = this.kept.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.kept[mid].name < name) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private insertKept(lease: NodeLease): void {
    this.changed.add(lease.name);
    const at = this.position(lease.name);
    if (this.kept[at]?.name === lease.name) this.kept[at] = lease;
    else this.kept.splice(at, 0, lease);
  }

  private removeKept(name: string): void {
    this.changed.add(name);
    const at = this.position(name);
    if (this.kept[at]?.name === name) this.kept.splice(at, 1);
  }
}
