// Turns the control plane's subnet table into the datapath's route records: per peer node one
// route per pod CIDR (its family's VTEP MAC as inner destination) over the underlay of the same
// family when both ends have one (flannel.1 over IPv4, flannel-v6.<VNI> over IPv6), else over
// the other; and a source-only record (family 0) for every underlay address a peer may send from.
// Pod CIDRs the kernel routes directly (DirectRouting) are left out: their packets never reach us.
// A change touches only what changed: told which nodes changed (the Kubernetes source knows), it
// finds each by binary search (the table's nodes are sorted by name) and replaces, inserts or
// removes that peer's entry and id; every other peer's records stay the objects they were. Told
// nothing (the static file, a change that was not applied), it looks at every lease, and still
// remakes only the peers whose lease object, peer id or inputs are new.
import { parseIpv4, parseIpv6 } from '../address/ip-text.js';
import type { NodeLease, SubnetTable } from '../subnets/subnet-table.js';
import type { PeerIds } from './peer-ids.js';
import type { RouteRecord } from './shared-table.js';

/** The underlay families we can send on. */
export interface OwnUnderlay {
  v4: boolean;
  v6: boolean;
}

/** A peer's records, with what they were made from. */
interface PeerEntry {
  lease: NodeLease;
  peerId: number;
  /** Our underlay families and which of its pod CIDRs are direct, as bits. */
  inputs: number;
  routes: RouteRecord[];
}

/** What a table change did to the peer ids: given to another node (their counters must be zeroed) or freed. */
export interface RoutesChange {
  reused: number[];
  released: number[];
  /** Peers whose records were made anew. */
  made: number;
}

const NONE: ReadonlySet<string> = new Set();

/** The route records of every node but ourselves, kept across table changes; peer ids assigned as a side effect. */
export class TableRoutes {
  /** One per peer, in the table's order (by name). */
  private entries: PeerEntry[] = [];
  /** Each lease's entry as last made, for a rebuild from the whole table. */
  private readonly byLease = new WeakMap<NodeLease, PeerEntry>();
  /** Every peer's records in table order: refilled in place at each change, never a new array. */
  readonly routes: RouteRecord[] = [];

  constructor(
    private readonly self: string,
    private readonly peers: PeerIds,
    private readonly own: OwnUnderlay,
  ) {}

  /** From every lease of `table`, but for the pod CIDRs in `direct` (canonical text). */
  rebuild(table: SubnetTable, direct: ReadonlySet<string> = NONE): RoutesChange {
    const others = table.nodes.filter((n) => n.name !== this.self);
    const { reused, released } = this.peers.update(others.map((n) => n.name));
    const change = { reused, released, made: 0 };
    this.entries = others.map((n) => this.entry(n, this.peers.get(n.name)!, direct, change));
    this.refill();
    return change;
  }

  /**
   * Only the nodes named in `changed` (added, replaced or removed since the table before; the rest
   * are the same lease objects), with `direct` as it was for the others.
   */
  update(table: SubnetTable, changed: Iterable<string>, direct: ReadonlySet<string> = NONE): RoutesChange {
    const change: RoutesChange = { reused: [], released: [], made: 0 };
    // Removals first: their ids are free before any new node needs one.
    for (const name of changed) {
      if (name === this.self || leaseOf(table, name)) continue;
      const at = this.position(name);
      if (this.entries[at]?.lease.name !== name) continue;
      this.entries.splice(at, 1);
      change.released.push(this.peers.release(name)!);
    }
    for (const name of changed) {
      const lease = name === this.self ? undefined : leaseOf(table, name);
      if (!lease) continue;
      const e = this.entry(lease, this.peers.assign(name, change.reused), direct, change);
      const at = this.position(name);
      if (this.entries[at]?.lease.name === name) this.entries[at] = e;
      else this.entries.splice(at, 0, e);
    }
    this.refill();
    return change;
  }

  /** The lease's entry, kept while its peer id and inputs are the same. */
  private entry(n: NodeLease, peerId: number, direct: ReadonlySet<string>, change: RoutesChange): PeerEntry {
    const own = this.own;
    const inputs = (own.v4 ? 1 : 0) | (own.v6 ? 2 : 0) | (n.podCIDR && direct.has(n.podCIDR.text) ? 4 : 0) | (n.podCIDRv6 && direct.has(n.podCIDRv6.text) ? 8 : 0);
    const kept = this.byLease.get(n);
    if (kept?.peerId === peerId && kept.inputs === inputs) return kept;
    const made = { lease: n, peerId, inputs, routes: peerRoutes(n, peerId, own, direct) };
    this.byLease.set(n, made);
    change.made++;
    return made;
  }

  /** Overwritten in place (`length = 0` would drop the backing store and grow it again: 250 KB a change at 5,000 peers). */
  private refill(): void {
    let i = 0;
    for (const e of this.entries) for (const r of e.routes) this.routes[i++] = r;
    this.routes.length = i;
  }

  /** Index of the first entry whose name sorts at or after `name`. */
  private position(name: string): number {
    return lowerBound(this.entries, name, (e) => e.lease.name);
  }
}

/** The records of `table` made from nothing (what TableRoutes must equal after any changes). */
export function routesFromTable(table: SubnetTable, self: string, peers: PeerIds, own: OwnUnderlay, direct: ReadonlySet<string> = NONE): { routes: RouteRecord[] } {
  const t = new TableRoutes(self, peers, own);
  t.rebuild(table, direct);
  return { routes: t.routes };
}

/** The lease of `name` in a table sorted by name, by binary search. */
function leaseOf(table: SubnetTable, name: string): NodeLease | undefined {
  const n = table.nodes[lowerBound(table.nodes, name, (l) => l.name)];
  return n?.name === name ? n : undefined;
}

function lowerBound<T>(xs: readonly T[], name: string, nameOf: (x: T) => string): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (nameOf(xs[mid]) < name) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The prefix of a source-only record: none (read only, shared by every such record). */
const NO_PREFIX = Buffer.alloc(0);

/**
 * A direct peer keeps its source records: a flannel node without DirectRouting still sends us VXLAN.
 * Each underlay address is parsed once per peer, its bytes shared by the records that use it.
 */
function peerRoutes(n: NodeLease, peerId: number, own: OwnUnderlay, direct: ReadonlySet<string>): RouteRecord[] {
  const routes: RouteRecord[] = [];
  const v4 = own.v4 && n.publicIP !== undefined ? ipv4Bytes(n.publicIP) : undefined;
  const v6 = own.v6 && n.publicIPv6 !== undefined ? parseIpv6(n.publicIPv6) : undefined;
  // A pod CIDR goes over the underlay of its own family when both ends have one, else over the other.
  if (n.podCIDR && !direct.has(n.podCIDR.text) && (v4 ?? v6)) routes.push(record(n.podCIDR.family, n.podCIDR.addr, n.podCIDR.prefixLen, v4 ?? v6!, n.vtepMAC, peerId));
  if (n.podCIDRv6 && !direct.has(n.podCIDRv6.text) && (v6 ?? v4)) routes.push(record(n.podCIDRv6.family, n.podCIDRv6.addr, n.podCIDRv6.prefixLen, v6 ?? v4!, n.vtepMACv6, peerId));
  // else no underlay in common: its pods are unreachable (no_route)
  if (v4) routes.push(record(0, NO_PREFIX, 0, v4, n.vtepMAC, peerId));
  if (v6) routes.push(record(0, NO_PREFIX, 0, v6, n.vtepMAC, peerId));
  return routes;
}

/** One record, every field in one order (one object shape for all). */
function record(family: RouteRecord['family'], prefix: Buffer, prefixLen: number, underlay: Buffer, vtepMAC: Buffer, peerId: number): RouteRecord {
  return { family, prefix, prefixLen, underlayFamily: underlay.length === 4 ? 4 : 6, underlay, vtepMAC, peerId };
}

function ipv4Bytes(ip: string): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(parseIpv4(ip));
  return b;
}
