// The subnet table from the Kubernetes API: an informer on Node (list, then watch from the
// list's resourceVersion; rewatch when a watch ends, relist on 410 Gone), every change
// coalesced into one table rebuild. When a list or watch fails, a fresh informer relists after
// a jittered exponential backoff; meanwhile the daemon forwards on the last good table and
// reports not-ready until a list succeeds again.
import { CoreV1Api, makeInformer, type Informer, type KubeConfig, type ObjectCache, type V1Node } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { overlappingPairs } from './cidr.js';
import { ownLease, peerLease, type LeaseResult, type Networks } from './node-lease.js';
import type { SubnetSource } from './subnet-source.js';
import type { NodeLease, SubnetTable } from './subnet-table.js';

export interface KubeSourceOptions {
  nodeName: string;
  networks: Networks;
  vni: number;
  publicIP: string | undefined;
}

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 16_000;

export class KubeSubnetSource implements SubnetSource {
  private readonly api: CoreV1Api;
  private informer: (Informer<V1Node> & ObjectCache<V1Node>) | undefined;
  /** The current informer has completed its list: its cache is the whole cluster. */
  private listed = false;
  private readonly listeners: ((table: SubnetTable, why: string) => void)[] = [];
  /** Parsed leases, keyed by node name, reused while the node's resourceVersion is unchanged. */
  private readonly parsed = new Map<string, { rv: string | undefined; result: LeaseResult }>();
  /** Why each node is left out, so that each reason is logged once, not at every event. */
  private readonly skipped = new Map<string, string>();
  private firstTable: ((t: SubnetTable) => void) | undefined;
  private rebuildQueued: NodeJS.Immediate | undefined;
  private pendingWhy = new Set<string>();
  private apiError: string | undefined = 'API server: not yet listed';
  private waiting: string | undefined;
  private backoffMs = BACKOFF_MIN_MS;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly kc: KubeConfig,
    private readonly opts: KubeSourceOptions,
    private readonly log: Logger,
  ) {
    this.api = kc.makeApiClient(CoreV1Api);
  }

  start(): Promise<SubnetTable> {
    return new Promise((resolve) => {
      this.firstTable = resolve;
      this.connect();
    });
  }

  onTable(listener: (table: SubnetTable, why: string) => void): void {
    this.listeners.push(listener);
  }

  refresh(why: string): void {
    this.log.info({ why }, 'the table follows the API server; nothing to re-read');
  }

  problem(): string | undefined {
    return this.apiError ?? this.waiting;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    if (this.rebuildQueued) clearImmediate(this.rebuildQueued);
    void this.informer?.stop();
  }

  private connect(): void {
    const list = async () => {
      const nodes = await this.api.listNode();
      if (informer === this.informer) {
        this.listed = true;
        this.apiError = undefined;
        this.backoffMs = BACKOFF_MIN_MS;
      }
      return nodes;
    };
    const informer = makeInformer(this.kc, '/api/v1/nodes', list);
    informer.on('add', (n) => this.changed(n, 'node added'));
    informer.on('update', (n) => this.changed(n, 'node updated'));
    informer.on('delete', (n) => this.changed(n, 'node deleted'));
    informer.on('error', (err: unknown) => {
      if (informer === this.informer) this.failed(err);
    });
    this.informer = informer;
    this.listed = false;
    void informer.start();
  }

  private changed(node: V1Node, why: string): void {
    this.pendingWhy.add(`${why}: ${node.metadata?.name ?? '?'}`);
    this.rebuildQueued ??= setImmediate(() => this.rebuild());
  }

  private failed(err: unknown): void {
    const e = err as Error & { statusCode?: number; code?: number | string };
    this.apiError = `API server: ${e.message || String(err)}${e.statusCode ? ` (HTTP ${e.statusCode})` : ''}`;
    if (this.stopped) return;
    const delay = this.backoffMs * (0.75 + Math.random() / 2); // ±25% jitter: nodes do not retry in lockstep
    this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    this.log.warn({ err: this.apiError, retryInMs: Math.round(delay) }, 'lost the API server; forwarding on the last good table');
    void this.informer?.stop();
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.connect(), delay);
  }

  private rebuild(): void {
    this.rebuildQueued = undefined;
    if (!this.listed || !this.informer) return; // a fresh informer's cache is not the cluster yet
    const why = [...this.pendingWhy];
    this.pendingWhy.clear();
    const table = this.table();
    if (!table) return;
    const cause = why.length <= 3 ? why.join('; ') : `${why.length} node events`;
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
    const nodes = this.informer!.list();
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
    const rv = node.metadata?.resourceVersion;
    const cached = this.parsed.get(name);
    if (cached && cached.rv === rv && rv !== undefined) return cached.result;
    const result = peerLease(node, this.opts.networks, this.opts.vni);
    this.parsed.set(name, { rv, result });
    return result;
  }

  private skip(name: string, why: string): void {
    if (this.skipped.get(name) === why) return;
    this.skipped.set(name, why);
    this.log.info({ node: name, why }, 'node left out of the table');
  }
}
