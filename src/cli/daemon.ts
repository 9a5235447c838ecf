// One run of `vxroute run` once its sources are started: the metrics server, the host set up by
// the mode (router or switch), the shards, NetworkPolicy compiled and handed to them, our node
// announced; every step on the undo stack in the order it was done.
import { once } from 'node:events';
import { GCProfiler } from 'node:v8';
import { ConfigError } from '../config-error.js';
import { Datapath } from '../datapath/datapath.js';
import { resolveTunReads } from '../datapath/tun-reads.js';
import { startHttpServer } from '../metrics/http-server.js';
import { addon } from '../native/addon.js';
import { lockDevice } from '../net/instance-lock.js';
import { linkWithAddress } from '../net/links.js';
import { ENCAP_OVERHEAD_V4, ENCAP_OVERHEAD_V6 } from '../packet/constants.js';
import { PolicyCompiler, type CompiledPolicyBuffer } from '../policy/compile-policy.js';
import type { KubePolicySource } from '../policy/kube-policy-source.js';
import type { PolicyWorld } from '../policy/world.js';
import { announceNode } from '../subnets/kube-announce.js';
import type { KubeConnection } from '../subnets/kube-api.js';
import type { SubnetSource } from '../subnets/subnet-source.js';
import { findNode, type NodeLease, type SubnetTable } from '../subnets/subnet-table.js';
import { logGsoChange } from './gso-log.js';
import type { Logger } from './log.js';
import { warnOnOversizeDatagrams } from './oversize-warning.js';
import type { Mode, Underlay, Undo } from './mode.js';
import { RouterMode } from './router-mode.js';
import { settleAll } from './settle-all.js';
import type { RunOptions } from './run-options.js';
import type { StartPhases } from './start-phases.js';
import { SwitchMode } from './switch-mode.js';
import type { TableQueue } from './table-queue.js';

const ANNOUNCE_RETRY_MS = 3000;
/** Sending sockets per underlay family: source ports a peer's RSS / SO_REUSEPORT spreads our flows by (docs/decisions.md). */
const SENDING_SOCKETS = 32;

export interface Settings {
  port: number;
  vni: number;
  mtu: number | undefined;
  directRouting: boolean;
}

/** One run of the daemon: what it set up is on the undo stack, in the order it was done. */
export class Daemon {
  private notReady: string | undefined = 'waiting for the subnet table';
  private datapath: Datapath | undefined;
  private policyGeneration = 0;
  /** Each world is compiled from the work of the one before where their objects are the same. */
  private readonly policyCompiler = new PolicyCompiler();
  /** The policy world the datapath enforces. */
  private compiledWorld: PolicyWorld | undefined;

  constructor(
    private readonly opts: RunOptions,
    private readonly settings: Settings,
    private readonly log: Logger,
    private readonly source: SubnetSource,
    private readonly policy: KubePolicySource | undefined,
    private readonly kc: KubeConnection | undefined,
    private readonly undo: Undo[],
    private readonly stop: AbortController,
    private readonly phases: StartPhases,
    /** Tables from the source, applied one at a time once the datapath runs. */
    private readonly tables: TableQueue,
  ) {}

  /** Router and switch mode alike: the mode decides the device and what a table changes on the host. */
  async start(first: { table: Promise<SubnetTable>; world: Promise<PolicyWorld> | undefined }): Promise<void> {
    const { opts, log, undo, settings } = this;
    if (opts.metrics.length > 0) {
      const servers = await startHttpServer(
        opts.metrics,
        { nodeName: opts.nodeName, datapath: () => this.datapath, notReady: () => this.notReady ?? this.source.problem() ?? this.policy?.problem() },
        {
          info: { node: opts.nodeName, iface: opts.iface, vni: String(settings.vni), port: String(settings.port), source: opts.kube ? 'kube' : 'static' },
          exposeDebug: opts.exposeDebug,
          log,
          policy: this.policy && (() => this.policy!.status()),
        },
      );
      undo.push(() => Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())))).then(() => undefined));
    }

    if (this.policy) this.followPolicy(this.policy);
    const firstWorld = first.world;
    const initial = await Promise.race([first.table, once(this.stop.signal, 'abort').then(() => undefined)]);
    if (initial === undefined) return; // stopped while waiting for our node
    const self = ownLease(initial, opts);
    const u = await this.underlayOf(self);
    const mode: Mode = opts.switch ? new SwitchMode(opts, opts.switch, settings.port, settings.mtu, u, initial, log) : new RouterMode(opts, settings.port, settings.mtu, u, initial, self, log, settings.directRouting);

    const lock = await lockDevice(opts.iface);
    undo.push(() => void lock.close());
    const { udpFds, udp6Fds, sendFds, send6Fds } = this.openSockets(u);
    // Our annotations from now on, beside the rest: what peers send us meanwhile waits in the bound
    // sockets, and pods come only with the CNI configuration, written once the datapath forwards.
    const announced = this.kc ? this.announce(this.kc, self).finally(() => this.phases.end('node annotations published')) : undefined;
    // The host is set up while the policy lists are in flight and compiled: nothing forwards before both.
    const host = mode.open(undo).finally(() => this.phases.end('host setup: TUN, addresses, routes, pod rules'));
    host.catch(() => undefined); // awaited below, or before an early return
    // A pod is isolated from its first packet: no forwarding before the policy world is known.
    if (firstWorld) {
      this.notReady = undefined; // the policy source says what it waits for, or why the API refuses it
      // A host setup that fails ends the wait too.
      if ((await Promise.race([firstWorld, host.then(() => firstWorld), once(this.stop.signal, 'abort').then(() => undefined)])) === undefined) {
        await host; // its undo steps are all on the stack before they run
        return;
      }
    }
    this.notReady = 'starting the datapath';
    const policy = this.policy;
    const compiling = Promise.resolve().then(() => policy && this.compilePolicy(policy.current()!, 'listed'));
    if (policy) void compiling.finally(() => this.phases.end('policy compile')).catch(() => undefined);
    const [compiled, device] = await settleAll([compiling, host]);
    const tunReads = resolveTunReads(opts.tunReads);
    if (tunReads.refused) log.warn({ errno: tunReads.refused }, 'io_uring refused (seccomp profile, kernel.io_uring_disabled or no kernel support): TUN reads are one readv per packet');
    log.info({ tunReads: tunReads.reads }, tunReads.reads === 'uring' ? 'TUN reads batched through io_uring' : 'TUN reads one readv per packet');
    const datapath = new Datapath(
      {
        ...device, nodeName: opts.nodeName, udpFds, udp6Fds, sendFds, send6Fds, vni: settings.vni, port: settings.port,
        maxInnerV4: u.maxInnerV4, maxInnerV6: u.maxInnerV6, tunOffload: opts.tunOffload, busyPollUs: opts.busyPollUs, tunReads: tunReads.reads,
        policy: compiled && { compiled: compiled.sab, names: compiled.policyNames, conntrackMax: opts.kube!.conntrackMax },
      },
      initial,
      mode.direct?.(),
    );
    this.datapath = datapath;
    const world = this.policy?.current();
    if (world && world !== this.compiledWorld) this.publishPolicy(world, 'changed while the datapath started');
    datapath.onGsoChange((change) => logGsoChange(log, change));
    datapath.onPolicyInForce(({ generation, at }) => log.info({ generation, at }, 'network policy in force on every worker'));
    void datapath.policyWarmed.then(() => log.info({ ms: Math.round(performance.now()) }, 'network policy stage warm on every worker'));
    undo.push(() => datapath.stop());
    undo.push(warnOnOversizeDatagrams(datapath, log));
    datapath.exited.catch((err: Error) => this.stop.abort(err));
    log.info({ version: datapath.version, nodes: initial.nodes.length }, 'table loaded');
    this.phases.end('shards started');

    // Only now that the datapath forwards: kubelet keeps the node NotReady until a CNI config exists.
    await mode.applied(initial, self);
    this.phases.end('CNI configuration');
    this.tables.start(async (table, why, changed) => {
      const next = ownLease(table, opts);
      await mode.apply(table, next);
      const version = datapath.publish(table, mode.direct?.(), changed);
      log.info({ version, nodes: table.nodes.length, why }, 'table loaded');
      await mode.applied(table, next);
    });
    undo.push(() => this.tables.close()); // before the host setup is undone: no change half-applied
    const onHup = (): void => this.source.refresh('SIGHUP');
    process.on('SIGHUP', onHup);
    undo.push(() => void process.off('SIGHUP', onHup));

    this.notReady = 'publishing our node annotations';
    await announced;
    this.notReady = undefined;
    this.phases.end('ready');
    log.info({ ...mode.describe(), workers: opts.workers, port: settings.port, vni: settings.vni, startMs: this.phases.ends, startCpuMs: this.phases.cpuMs() }, 'ready');
    // Off the critical path: the first policy change then compiles as fast as later ones.
    const compilerWarmed = this.policy && this.policyCompiler.warmUp(this.stop.signal).catch((err: Error) => log.warn({ err }, 'policy compiler warm-up failed'));
    // Ready does not wait for the workers' start (their isolates, modules and policy warm-up: 0.4–1.3 s
    // at load 9, docs/decisions.md) nor for the compiler's warm-up: pods already come with the CNI
    // configuration, and what they send meanwhile waits in the TUN queue. 'settled' says when the
    // start's work is all done, every worker's first memory report in.
    Promise.all([datapath.running, compilerWarmed]).then(
      () => log.info({ ms: Math.round(performance.now()) }, 'settled'),
      () => undefined, // a shard that exits first ends the daemon through `exited`
    );
  }

  /** Every policy world after the first is compiled and handed to the running shards. */
  private followPolicy(policy: KubePolicySource): void {
    policy.onWorld((world, why) => {
      if (this.datapath) this.publishPolicy(world, why); // else the datapath is built with the newest
    });
  }

  private publishPolicy(world: PolicyWorld, why: string): void {
    const compiled = this.compilePolicy(world, why);
    this.datapath!.publishPolicy(compiled.sab, compiled.policyNames);
  }

  private compilePolicy(world: PolicyWorld, why: string): CompiledPolicyBuffer {
    const started = performance.now();
    // The collections that ran inside the compile, to tell a slow compile's GC from its own work.
    const gc = new GCProfiler();
    gc.start();
    const compiled = this.policyCompiler.compile(world, ++this.policyGeneration);
    const gcs = gc.stop().statistics;
    this.compiledWorld = world;
    for (const p of compiled.problems) this.log.warn(p, 'NetworkPolicy not taken as written (it allows less, never more)');
    this.log.info(
      { pods: world.pods.length, namespaces: world.namespaces.length, nodes: world.nodes.length, policies: world.policies.length, generation: this.policyGeneration, bytes: compiled.sab.byteLength, ms: Math.round(performance.now() - started), gcs: gcs.length, gcMs: Math.round(gcs.reduce((sum, g) => sum + g.cost, 0) / 1000), why },
      'network policy compiled',
    );
    return compiled;
  }

  /** Our underlay addresses and each one's room for an inner packet: its MTU less VXLAN's overhead over that family. */
  private async underlayOf(self: NodeLease): Promise<Underlay> {
    const publicIP = this.opts.publicIP ?? self.publicIP;
    const publicIPv6 = self.publicIPv6;
    if (publicIP === undefined && publicIPv6 === undefined) throw new ConfigError('--public-ip', `our node ${self.name} has no underlay address in the table; pass --public-ip`);
    const link4 = publicIP === undefined ? undefined : await this.underlay(publicIP);
    const link6 = publicIPv6 === undefined ? undefined : await this.underlay(publicIPv6);
    return {
      publicIP, publicIPv6, link4, link6,
      maxInnerV4: link4 ? link4.mtu - ENCAP_OVERHEAD_V4 : 0,
      maxInnerV6: link6 ? link6.mtu - ENCAP_OVERHEAD_V6 : 0,
    };
  }

  /**
   * One receiving UDP socket per worker and underlay family, bound before any device exists (a port
   * in use fails first), and per family SENDING_SOCKETS that datagrams leave from, one per inner flow
   * (none with --source-ports fixed: each shard sends from its receiving socket, so from --port).
   */
  private openSockets(u: Pick<Underlay, 'publicIP' | 'publicIPv6'>): { udpFds: number[]; udp6Fds: number[]; sendFds: number[]; send6Fds: number[] } {
    const udpFds: number[] = [];
    const udp6Fds: number[] = [];
    const sendFds: number[] = [];
    const send6Fds: number[] = [];
    this.undo.push(() => [...udpFds, ...udp6Fds, ...sendFds, ...send6Fds].forEach((fd) => addon.close(fd)));
    for (let i = 0; i < this.opts.workers; i++) {
      if (u.publicIP !== undefined) udpFds.push(addon.udpOpen(4, '0.0.0.0', this.settings.port));
      if (u.publicIPv6 !== undefined) udp6Fds.push(addon.udpOpen(6, '::', this.settings.port));
    }
    const senders = this.opts.sourcePorts === 'per-flow' ? SENDING_SOCKETS : 0;
    for (let i = 0; i < senders; i++) {
      if (u.publicIP !== undefined) sendFds.push(addon.udpOpenSender(4, '0.0.0.0'));
      if (u.publicIPv6 !== undefined) send6Fds.push(addon.udpOpenSender(6, '::'));
    }
    return { udpFds, udp6Fds, sendFds, send6Fds };
  }

  /** The link that holds `address`; MTU 1500 with a warning when none does (NAT). */
  private async underlay(address: string): Promise<{ ifname: string; mtu: number }> {
    const link = await linkWithAddress(address);
    if (!link) this.log.warn({ address }, 'no local interface holds this underlay address (behind NAT?); assuming MTU 1500');
    return link ?? { ifname: 'the underlay', mtu: 1500 };
  }

  /** Publishes our annotations and condition, retrying until the API server takes them. */
  private async announce(kc: KubeConnection, self: NodeLease): Promise<void> {
    while (!this.stop.signal.aborted) {
      try {
        await announceNode(kc, self, this.settings.vni);
        this.log.info({ node: self.name, publicIP: self.publicIP }, 'node annotations published');
        return;
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'could not publish our node annotations; retrying');
        await new Promise((r) => setTimeout(r, ANNOUNCE_RETRY_MS));
      }
    }
  }
}

function ownLease(table: SubnetTable, opts: RunOptions): NodeLease {
  const self = findNode(table, opts.nodeName);
  if (!self) {
    const known = table.nodes.map((n) => n.name).join(', ');
    throw new ConfigError('--node-name', `"${opts.nodeName}" is not a node of ${opts.subnets ?? 'the cluster'} (nodes: ${known || 'none'}); pass --node-name or set NODE_NAME`);
  }
  return self;
}
