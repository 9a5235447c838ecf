// The subnet table from the Kubernetes API: the trimmed Node list-watch (kube-nodes.ts; list,
// then watch from the list's resourceVersion; rewatch when a watch ends, relist on 410 Gone),
// shared with NetworkPolicy when both run, every change coalesced into one new table. Only the
// nodes that changed are parsed again and placed in the LeaseTable, so that a change costs work in
// proportion to it, not to the 5,000 nodes of a large cluster. When a list or watch fails it
// relists after a jittered exponential backoff; meanwhile the daemon forwards on the last good
// table and reports not-ready until a list succeeds again.
import type { V1Node } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { KubeConnection } from './kube-api.js';
import { nodeListWatch, type NodeListWatch } from './kube-nodes.js';
import { LeaseTable } from './lease-table.js';
import { ownLease, peerLease, type Networks } from './node-lease.js';
import type { SubnetSource, TableListener } from './subnet-source.js';
import type { SubnetTable } from './subnet-table.js';

export interface KubeSourceOptions {
  nodeName: string;
  networks: Networks;
  vni: number;
  publicIP: string | undefined;
}

export class KubeSubnetSource implements SubnetSource {
  private readonly nodes: NodeListWatch;
  /** The node list-watch is ours alone (not shared): we stop it. */
  private readonly ownsNodes: boolean;
  private readonly listeners: TableListener[] = [];
  private readonly leases: LeaseTable;
  /** Nodes added, changed or removed since the last table. */
  private readonly dirty = new Set<string>();
  /** Why each node is left out, so that each reason is logged once, not at every event. */
  private readonly skipped = new Map<string, string>();
  /** Whether our own node has a lease; until it has, there is no table. */
  private ownLeased = false;
  private firstTable: ((t: SubnetTable) => void) | undefined;
  private rebuildQueued: NodeJS.Immediate | undefined;
  private changes = 0;
  private waiting: string | undefined;
  private stopped = false;

  constructor(
    conn: KubeConnection,
    private readonly opts: KubeSourceOptions,
    private readonly log: Logger,
    /** The Node list-watch shared with NetworkPolicy; its creator starts and stops it. */
    shared?: NodeListWatch,
  ) {
    this.nodes = shared ?? nodeListWatch(conn);
    this.ownsNodes = shared === undefined;
    this.leases = new LeaseTable(opts.nodeName, { left: (name, why) => this.skip(name, why), back: (name) => this.skipped.delete(name) });
    this.nodes.subscribe({
      objectChanged: (name) => this.dirty.add(name),
      changed: (contents) => {
        if (contents) this.changes++;
        this.rebuildQueued ??= setImmediate(() => this.rebuild());
      },
      failed: (problem, retryInMs) => {
        if (!this.stopped) this.log.warn({ err: `API server: ${problem}`, retryInMs }, 'lost the API server; forwarding on the last good table');
      },
    });
  }

  start(): Promise<SubnetTable> {
    return new Promise((resolve) => {
      this.firstTable = resolve;
      this.nodes.start();
    });
  }

  onTable(listener: TableListener): void {
    this.listeners.push(listener);
  }

  refresh(why: string): void {
    this.log.info({ why }, 'the table follows the API server; nothing to re-read');
  }

  problem(): string | undefined {
    const p = this.nodes.problem();
    if (p) return `API server: ${p}`;
    if (this.nodes.state() === 'listing') return 'API server: not yet listed';
    return this.waiting;
  }

  stop(): void {
    this.stopped = true;
    if (this.rebuildQueued) clearImmediate(this.rebuildQueued);
    if (this.ownsNodes) this.nodes.stop();
  }

  private rebuild(): void {
    this.rebuildQueued = undefined;
    if (this.stopped || this.nodes.state() !== 'synced') return; // forward on the last good table until a list succeeds
    if (this.changes === 0 && !this.firstTable && !this.waiting) return; // only the state changed
    const changes = this.changes;
    this.changes = 0;
    const table = this.table();
    if (!table) return;
    const changed = this.leases.takeChanged();
    const cause = `${changes} node change${changes === 1 ? '' : 's'}`;
    if (this.firstTable) {
      const resolve = this.firstTable;
      this.firstTable = undefined;
      resolve(table);
    } else {
      for (const l of this.listeners) l(table, cause, changed);
    }
  }

  private table(): SubnetTable | undefined {
    if (!this.ownLeased) this.dirty.add(this.opts.nodeName); // say again why we wait, even when our node is not in the API
    for (const name of this.dirty) {
      if (name === this.opts.nodeName) this.placeOwn(this.nodes.get(name));
      else this.placePeer(name, this.nodes.get(name));
    }
    this.dirty.clear();
    if (!this.ownLeased) return undefined;
    const { networks } = this.opts;
    return { network: networks.v4, networkV6: networks.v6, nodes: this.leases.nodes() };
  }

  private placeOwn(node: V1Node | undefined): void {
    const { nodeName, networks, vni, publicIP } = this.opts;
    const result = node ? ownLease(node, networks, vni, publicIP) : { skip: `our node ${nodeName} is not in the API (is NODE_NAME right?)` };
    if ('skip' in result && this.waiting !== result.skip) this.log.warn({ why: result.skip }, 'waiting for our node');
    this.waiting = 'skip' in result ? result.skip : undefined;
    this.ownLeased = 'lease' in result;
    this.leases.set(nodeName, 'lease' in result ? result.lease : undefined);
  }

  /** A peer's lease parsed again from its new object, or gone with it. */
  private placePeer(name: string, node: V1Node | undefined): void {
    const result = node && peerLease(node, this.opts.networks, this.opts.vni);
    if (!result) this.skipped.delete(name); // gone from the API: no longer left out
    else if ('skip' in result) this.skip(name, result.skip);
    this.leases.set(name, result && 'lease' in result ? result.lease : undefined);
  }

  private skip(name: string, why: string): void {
    if (this.skipped.get(name) === why) return;
    this.skipped.set(name, why);
    this.log.info({ node: name, why }, 'node left out of the table');
  }
}
