// The main thread's handle on the datapath: shared memory for the table and the counters, the
// peer ids, and the shards. It publishes tables and reads counters; it never touches a packet.
import { formatMappedIp } from '../address/ip-text.js';
import { formatMac } from '../address/mac-text.js';
import { ETH_HEADER_LEN, HEADROOM, VLAN_TAG_LEN } from '../packet/constants.js';
import { findNode, type SubnetTable } from '../subnets/subnet-table.js';
import { CounterReader, type CounterSnapshot, type PeerCounters } from './counter-snapshot.js';
import { CounterLayout } from './counters.js';
import { GsoFamilies, type GsoChange } from './gso-changes.js';
import { PolicyAdoption, type PolicyInForce } from './policy-adoption.js';
import { CompiledPolicy } from './policy/compiled-policy.js';
import { PeerIds } from './peer-ids.js';
import { allocateConntrack, Conntrack } from './policy/conntrack.js';
import { sweepEvery } from './policy/conntrack-sweeper.js';
import { TableRoutes } from './routes-from-table.js';
import type { PolicyConfig, ShardConfig } from './shard-config.js';
import { ShardPool } from './shard-pool.js';
import { allocateTable, SharedTableWriter } from './shared-table.js';
import { allocateFdb, Fdb, LOCAL, type FdbEntry } from './switch/fdb.js';
import { allocateNeighbours, Neighbours } from './switch/neighbours.js';
import { allocateTrace, TraceReader } from './trace-ring.js';
import { ownPodsOf, sameOwnPods, type OwnPods, type OwnPodsUpdate } from './same-node-hairpin.js';
import type { TunReads } from './tun-reads.js';
import type { TunnelGsoShard } from './udp-socket.js';
import { MessageChannel, type MessagePort } from 'node:worker_threads';

const MAX_PEERS = 16_384;
const MAX_ROUTES = 2 * MAX_PEERS;
const BATCH_SIZE = 64;
const AGING_EVERY_MS = 1000;

export interface DatapathConfig {
  nodeName: string;
  /** One TUN queue per shard, and per shard one UDP socket per underlay family we use (else empty). */
  tunFds: number[];
  udpFds: number[];
  udp6Fds: number[];
  /** Per family, the sockets datagrams leave from, one per inner flow (absent: each shard's receiving socket). */
  sendFds?: number[];
  send6Fds?: number[];
  /** The tunnel-GSO send path: one egress TAP queue per shard and what each shard's sockets need (router mode; absent: off). */
  tunnelGso?: Omit<TunnelGsoShard, 'tapFd'> & { tapFds: number[] };
  vni: number;
  port: number;
  ownMac: Buffer;
  ownMacV6: Buffer;
  /** Our TUN addresses: IPv4 host order (0: none), IPv6 16 bytes (zeros: none). */
  tunAddressV4: number;
  tunAddressV6: Buffer;
  /** Largest inner packet each underlay carries (its MTU less VXLAN's overhead); 0 for one we lack. */
  maxInnerV4: number;
  maxInnerV6: number;
  /** The largest packet a slot must hold: the TUN's MTU or the largest underlay MTU. */
  maxPacket: number;
  /** The TUN's (TAP's) MTU: the longest packet our pods' path takes. */
  deviceMtu: number;
  /** The TUN/TAP queues were opened with IFF_VNET_HDR and TUNSETOFFLOAD (see tun-queue.ts). */
  tunOffload: boolean;
  /** Microseconds a shard polls without sleeping after traffic (0: off). */
  busyPollUs: number;
  /** How shards read their TUN/TAP queue, as resolveTunReads decided. */
  tunReads: TunReads;
  /** Switch mode (the fds are TAP queues); undefined in router mode. */
  switch?: SwitchSettings;
  /** NetworkPolicy; undefined when off. */
  policy?: PolicySettings;
  /** Router mode: our pod CIDRs, for the packets between two of our pods the policy judges. */
  ownPods?: OwnPods;
}

export interface PolicySettings {
  /** The compiled policy to start with (src/policy/compile-policy.ts), and its policies' names by index. */
  compiled: SharedArrayBuffer;
  names: string[];
  /** The connection table's cap. */
  conntrackMax: number;
}

export interface SwitchSettings {
  /** FDB cap; the neighbour table of the ARP/ND proxy gets the same. */
  fdbMax: number;
  /** Entries not refreshed for this long are removed. */
  agingMs: number;
  arpProxy: boolean;
  /** The TAP's MTU. */
  mtu: number;
}

/** One FDB entry as /debug/fdb shows it. */
export interface FdbRow {
  mac: string;
  /** "local" (behind our bridge) or the peer node's name. */
  where: string;
  ageSeconds: number;
  frames: number;
}

export class Datapath {
  private readonly layout: CounterLayout;
  private readonly countersSab: SharedArrayBuffer;
  private readonly counterReader: CounterReader;
  private readonly writer: SharedTableWriter;
  private readonly peers = new PeerIds(MAX_PEERS);
  /** Each peer's route records, remade only when its lease changes. */
  private readonly routes: TableRoutes;
  private readonly pool: ShardPool;
  /** The version of the table the shards have been handed last. */
  version = 0;
  /** The table the shards forward on. */
  table: SubnetTable;
  readonly trace: TraceReader;
  private readonly fdb: Fdb | undefined;
  private readonly neighbours: Neighbours | undefined;
  private readonly aging: NodeJS.Timeout | undefined;
  private readonly conntrack: Conntrack | undefined;
  private readonly stopSweeping: (() => void) | undefined;
  private policyNames: string[] = [];
  /** The main thread's ends of the shards' policy update ports. */
  private readonly policyPorts: MessagePort[] = [];
  private readonly gsoFamilies = new GsoFamilies();
  private gsoListener: (change: GsoChange) => void = () => undefined;
  private readonly adoption: PolicyAdoption | undefined;
  private policyListener: (inForce: PolicyInForce) => void = () => undefined;

  /** Pod CIDRs the kernel routes directly (DirectRouting), left out of the shards' table. */
  private direct: ReadonlySet<string>;
  /** Router mode with NetworkPolicy: our pod CIDRs the shards' hairpin was handed last. */
  private ownPods: OwnPods | undefined;

  constructor(private readonly cfg: DatapathConfig, initial: SubnetTable, direct: ReadonlySet<string> = new Set()) {
    const workers = cfg.tunFds.length;
    this.layout = new CounterLayout(workers, MAX_PEERS);
    this.countersSab = this.layout.allocate();
    this.counterReader = new CounterReader(this.layout, this.countersSab);
    const tableSab = allocateTable(MAX_ROUTES);
    this.writer = new SharedTableWriter(tableSab);
    this.table = initial;
    this.direct = direct;
    this.ownPods = cfg.ownPods;
    this.routes = new TableRoutes(cfg.nodeName, this.peers, { v4: cfg.udpFds.length > 0, v6: cfg.udp6Fds.length > 0 });
    this.write(initial, direct, undefined);
    const traceSab = allocateTrace(workers);
    this.trace = new TraceReader(traceSab, workers);
    const sw = cfg.switch;
    let switchConfig: ShardConfig['switch'];
    if (sw) {
      const fdbSab = allocateFdb(sw.fdbMax);
      const neighboursSab = allocateNeighbours(sw.fdbMax);
      this.fdb = new Fdb(fdbSab);
      this.neighbours = new Neighbours(neighboursSab, sw.fdbMax);
      switchConfig = { fdb: fdbSab, neighbours: neighboursSab, neighboursMax: sw.fdbMax, arpProxy: sw.arpProxy, maxFrame: sw.mtu + ETH_HEADER_LEN + VLAN_TAG_LEN };
    }
    let policy: ((index: number) => PolicyConfig) | undefined;
    if (cfg.policy) {
      const conntrackSab = allocateConntrack(cfg.policy.conntrackMax);
      this.conntrack = new Conntrack(conntrackSab);
      this.stopSweeping = sweepEvery(this.conntrack, AGING_EVERY_MS);
      const compiled = cfg.policy.compiled;
      this.policyNames = cfg.policy.names;
      this.adoption = new PolicyAdoption(workers, new CompiledPolicy(compiled).generation());
      policy = () => {
        const { port1, port2 } = new MessageChannel();
        this.policyPorts.push(port1);
        return { conntrack: conntrackSab, compiled, updates: port2 };
      };
    }
    if (sw) this.aging = setInterval(() => this.age(), AGING_EVERY_MS).unref();
    this.pool = new ShardPool(
      cfg.tunFds.map((tunFd, index) => ({
        index,
        tunFd,
        udpFd: cfg.udpFds[index] ?? -1,
        udp6Fd: cfg.udp6Fds[index] ?? -1,
        sendFds: cfg.sendFds ?? [],
        send6Fds: cfg.send6Fds ?? [],
        tunnelGso: cfg.tunnelGso && { tapFd: cfg.tunnelGso.tapFds[index]!, mac: cfg.tunnelGso.mac, on: cfg.tunnelGso.on, v4: cfg.tunnelGso.v4, v6: cfg.tunnelGso.v6 },
        table: tableSab,
        counters: this.countersSab,
        trace: traceSab,
        workers,
        maxPeers: MAX_PEERS,
        vni: cfg.vni,
        port: cfg.port,
        ownMac: cfg.ownMac,
        ownMacV6: cfg.ownMacV6,
        tunAddressV4: cfg.tunAddressV4,
        tunAddressV6: cfg.tunAddressV6,
        maxInnerV4: cfg.maxInnerV4,
        maxInnerV6: cfg.maxInnerV6,
        deviceMtu: cfg.deviceMtu,
        batchSize: BATCH_SIZE,
        slotSize: Math.ceil((HEADROOM + cfg.maxPacket) / 64) * 64,
        tunOffload: cfg.tunOffload,
        busyPollUs: cfg.busyPollUs,
        tunReads: cfg.tunReads,
        switch: switchConfig,
        policy: policy?.(index),
        ownPods: cfg.ownPods,
      })),
      (change) => {
        const familyChange = this.gsoFamilies.fold(change);
        if (familyChange) this.gsoListener(familyChange);
      },
      (adopted) => {
        const inForce = this.adoption?.fold(adopted);
        if (inForce) this.policyListener(inForce);
      },
    );
  }

  get switching(): boolean {
    return this.fdb !== undefined;
  }

  /** Settles when every shard has exited; rejects with the first shard's failure. */
  get exited(): Promise<void> {
    return this.pool.exited;
  }

  /** Settles when every shard has entered its loop; rejects when one exits first. */
  get running(): Promise<void> {
    return this.pool.running;
  }

  /** Settles when every shard's policy stage has been warmed with a policy that knows pods. */
  get policyWarmed(): Promise<void> {
    return this.pool.policyWarmed;
  }

  /** Called when UDP GSO goes off on the first socket of a family, or back on on the last one. */
  onGsoChange(listener: (change: GsoChange) => void): void {
    this.gsoListener = listener;
  }

  /**
   * Hands a new table to the shards, without the pod CIDRs in `direct`; returns its version.
   * `changed`: the nodes added, replaced or removed since the table published before (undefined:
   * not known, every lease is looked at).
   */
  publish(table: SubnetTable, direct: ReadonlySet<string> = new Set(), changed?: Iterable<string>): number {
    const version = this.write(table, direct, changed);
    this.direct = direct;
    this.table = table;
    this.publishOwnPods(table);
    this.pool.wake(); // idle shards adopt it now, not at their next packet
    return version;
  }

  /** Called when every shard decides with a published policy generation (or a newer one). */
  onPolicyInForce(listener: (inForce: PolicyInForce) => void): void {
    this.policyListener = listener;
  }

  /** Hands a newly compiled policy to the shards; each takes the newest at its next loop. `names`: policy index → "namespace/name". */
  publishPolicy(compiled: SharedArrayBuffer, names: string[]): void {
    if (!this.conntrack) throw new Error('NetworkPolicy is off: there is no policy to replace');
    for (const port of this.policyPorts) port.postMessage(compiled);
    this.pool.announcePolicy();
    this.policyNames = names;
  }

  /** Our pod CIDRs, when the table changed them, to the shards' hairpin, on the policy ports (in order with the policies). */
  private publishOwnPods(table: SubnetTable): void {
    const self = findNode(table, this.cfg.nodeName);
    if (!this.ownPods || !self) return;
    const pods = ownPodsOf(self.podCIDR, self.podCIDRv6);
    if (sameOwnPods(pods, this.ownPods)) return;
    this.ownPods = pods;
    for (const port of this.policyPorts) port.postMessage({ type: 'own-pods', pods } satisfies OwnPodsUpdate);
    this.pool.announcePolicy();
  }

  /** The policy a trace entry names by index (in the policy in force now). */
  policyName(index: number): string | undefined {
    return this.policyNames[index];
  }

  /** Every counter, summed over the workers; without the per-peer rows when `peers` is false (/metrics reads those through peerRows). */
  counters(peers = true): CounterSnapshot {
    return this.counterReader.snapshot(peers ? this.peers : undefined, this.fdb?.stats(), this.conntrack?.stats());
  }

  /** Each peer's counters in table order, through one record overwritten at every step: nothing allocated per peer. */
  *peerRows(): Generator<PeerCounters> {
    const row: PeerCounters = { name: '', txPackets: 0, txBytes: 0, rxPackets: 0, rxBytes: 0, lastSeen: null };
    for (const n of this.table.nodes) {
      const id = this.peers.get(n.name);
      if (id === undefined) continue; // our own node
      row.name = n.name;
      yield this.counterReader.readPeer(id, row);
    }
  }

  /** Switch mode's forwarding database, sorted by MAC; undefined in router mode. */
  fdbRows(): FdbRow[] | undefined {
    if (!this.fdb) return undefined;
    const now = Date.now();
    return this.fdb
      .entries(now)
      .map((e: FdbEntry) => ({ mac: e.mac, where: e.where === LOCAL ? 'local' : this.peerName(e.where) ?? `peer ${e.where}`, ageSeconds: Math.max(0, Math.round((now - e.seen) / 1000)), frames: e.frames }))
      .sort((a, b) => (a.mac < b.mac ? -1 : 1));
  }

  /** Where the ARP/ND proxy would answer from; undefined in router mode. */
  neighbourRows(): { ip: string; mac: string; ageSeconds: number }[] | undefined {
    if (!this.neighbours) return undefined;
    const now = Date.now();
    return this.neighbours.entries(now).map((e) => ({ ip: formatMappedIp(e.ip), mac: formatMac(e.mac), ageSeconds: Math.max(0, Math.round((now - e.seen) / 1000)) }));
  }

  /** A node's counters written into `into` (reused by the caller); false for a node without a peer id. */
  peerCounters(name: string, into: PeerCounters): boolean {
    const id = this.peers.get(name);
    if (id === undefined) return false;
    this.counterReader.readPeer(id, into);
    return true;
  }

  /** The peer id of a node in the table, for the trace's filter. */
  peerId(name: string): number | undefined {
    return this.peers.get(name);
  }

  /** The node that holds a peer id now: a lookup, since /debug/fdb names one per row (up to the FDB's size). */
  peerName(id: number): string | undefined {
    return this.peers.name(id);
  }

  async stop(): Promise<void> {
    clearInterval(this.aging);
    this.stopSweeping?.();
    await this.pool.stop();
    for (const port of this.policyPorts) port.close();
  }

  private age(): void {
    const now = Date.now();
    if (this.cfg.switch) {
      this.fdb?.age(now, this.cfg.switch.agingMs);
      this.neighbours?.age(now, this.cfg.switch.agingMs);
    }
  }

  private write(table: SubnetTable, direct: ReadonlySet<string>, changed: Iterable<string> | undefined): number {
    // Another direct set changes the records of peers that did not change: those need every lease.
    const { reused, released } = changed && sameSet(direct, this.direct) ? this.routes.update(table, changed, direct) : this.routes.rebuild(table, direct);
    for (const id of reused) this.counterReader.resetPeer(id);
    // MACs learned behind a node that left go with it, before its id can be given to another.
    if (this.fdb && reused.length + released.length > 0) this.fdb.forgetPeers((id) => !reused.includes(id) && !released.includes(id));
    this.version = this.writer.publish(this.routes.routes);
    return this.version;
  }
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}
