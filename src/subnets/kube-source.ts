// The subnet table from the Kubernetes API: the trimmed Node list-watch (kube-nodes.ts; list,
// then watch from the list's resourceVersion; rewatch when a watch ends, relist on 410 Gone),
// shared with NetworkPolicy when both run, every change coalesced into one table rebuild. When a
// list or watch fails it relists after a jittered exponential backoff; meanwhile the daemon
// forwards on the last good table and reports not-ready until a list succeeds again.
import type { V1Node } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { overlappingPairs } from './cidr.js';
import type { KubeConnection } from './kube-api.js';
import { nodeListWatch, type NodeListWatch } from './kube-nodes.js';
import { ownLease, peerLease, type LeaseResult, type Networks } from './node-lease.js';
import type { SubnetSource } from './subnet-source.js';
import type { NodeLease, SubnetTable } from './subnet-table.js';

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
  private readonly listeners: ((table: SubnetTable, why: string) => void)[] = [];
  /** Parsed leases by node name, reused while the node's trimmed object is the same. */
  private readonly parsed = new Map<string, { node: V1Node; result: LeaseResult }>();
  /** Why each node is left out, so that each reason is logged once, not at every event. */
  private readonly skipped = new Map<string, string>();
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
    this.nodes.subscribe({
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

  onTable(listener: (table: SubnetTable, why: string) => void): void {
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
    const cause = `${changes} node change${changes === 1 ? '' : 's'}`;
    if (this.firstTable) {
      const resolve = this.firstTable;
      this.firstTable = undefined;
      resolve(table);
    } else {
      for (const l of this.listeners) l(table, cause);
    }
  }

  private table(): SubnetTable | undefined {
    const { nodeName, networks, vni, publicIP } = this.opts;
    const nodes = this.nodes.values();
    const own = nodes.find((n) => n.metadata?.name === nodeName);
    const self = own ? ownLease(own, networks, vni, publicIP) : { skip: `our node ${nodeName} is not in the API (is NODE_NAME right?)` };
    if ('skip' in self) {
      if (this.waiting !== self.skip) this.log.warn({ why: self.skip }, 'waiting for our node');
      this.waiting = self.skip;
      return undefined;
    }
    this.waiting = undefined;

    const leases: NodeLease[] = [self.lease];
    const seen = new Set<string>([nodeName]);
    for (const node of nodes) {
      const name = node.metadata?.name ?? '';
      if (seen.has(name)) continue;
      seen.add(name);
      const result = this.peer(node);
      if ('lease' in result) {
        leases.push(result.lease);
        this.skipped.delete(name);
      } else {
        this.skip(name, result.skip);
      }
    }
    for (const name of this.skipped.keys()) if (!seen.has(name)) this.skipped.delete(name);
    for (const name of this.parsed.keys()) if (!seen.has(name)) this.parsed.delete(name);

    // A pod CIDR claimed twice: keep our own and the first by name, leave the other out.
    leases.sort((a, b) => (a.name === nodeName ? -1 : b.name === nodeName ? 1 : a.name < b.name ? -1 : 1));
    const dropped = new Set<number>();
    for (const key of ['podCIDR', 'podCIDRv6'] as const) {
      for (const [i, j] of overlappingPairs(leases.map((l) => l[key]))) {
        if (dropped.has(i) || dropped.has(j)) continue;
        dropped.add(j);
        this.skip(leases[j].name, `pod CIDR ${leases[j][key]!.text} overlaps ${leases[i][key]!.text} of ${leases[i].name}`);
      }
    }
    return { network: networks.v4, networkV6: networks.v6, nodes: leases.filter((_, i) => !dropped.has(i)).sort((a, b) => (a.name < b.name ? -1 : 1)) };
  }

  private peer(node: V1Node): LeaseResult {
    const name = node.metadata?.name ?? '';
    const cached = this.parsed.get(name);
    if (cached?.node === node) return cached.result; // the list-watch keeps an unchanged node's object
    const result = peerLease(node, this.opts.networks, this.opts.vni);
    this.parsed.set(name, { node, result });
    return result;
  }

  private skip(name: string, why: string): void {
    if (this.skipped.get(name) === why) return;
    this.skipped.set(name, why);
    this.log.info({ node: name, why }, 'node left out of the table');
  }
}
