// `vxroute run`: validate everything, then set up the host and start the shards; on
// SIGTERM/SIGINT or a failure, undo in reverse order what was done. The subnet table comes
// from a static file or the Kubernetes API; either way the datapath forwards on the last good one.
import type { KubeConfig } from '@kubernetes/client-node';
import { once } from 'node:events';
import { parseIpv4, parseIpv6 } from '../address/ip-text.js';
import { ConfigError } from '../config-error.js';
import { Datapath } from '../datapath/datapath.js';
import { startHttpServer } from '../metrics/http-server.js';
import { addon } from '../native/addon.js';
import { applyOverlay, enableAcceptLocal, removeOverlay, replaceAddress, restoreAcceptLocal, restoreIpv6, setIpv6, type OverlaySetup } from '../net/host-routes.js';
import { joinBridge, leaveBridge } from '../net/bridge.js';
import { lockDevice } from '../net/instance-lock.js';
import { linkWithAddress } from '../net/links.js';
import { writeConflist } from '../net/cni-conflist.js';
import { applyMasquerade, detectNatBackend, type NatBackend } from '../net/masquerade.js';
import { writeSubnetEnv } from '../net/subnet-env.js';
import { closeTun, openTun } from '../net/tun-device.js';
import { ENCAP_OVERHEAD_V4, ENCAP_OVERHEAD_V6, ETH_HEADER_LEN, VLAN_TAG_LEN } from '../packet/constants.js';
import { announceNode } from '../subnets/kube-announce.js';
import { loadKubeConfig } from '../subnets/kube-config.js';
import { KubeSubnetSource } from '../subnets/kube-source.js';
import { readNetConf } from '../subnets/net-conf.js';
import { StaticFileSource } from '../subnets/static-source.js';
import type { SubnetSource } from '../subnets/subnet-source.js';
import { findNode, type NodeLease, type SubnetTable } from '../subnets/subnet-table.js';
import { createLogger, type Logger } from './log.js';
import { parseRunOptions, resolveDatapath, type RunOptions, type SwitchOptions } from './run-options.js';

const ANNOUNCE_RETRY_MS = 3000;

type Undo = () => Promise<void> | void;

/** Our underlay addresses, their links, and the room each leaves for an inner packet (0: none). */
interface Underlay {
  publicIP: string | undefined;
  publicIPv6: string | undefined;
  link4: { ifname: string; mtu: number } | undefined;
  link6: { ifname: string; mtu: number } | undefined;
  maxInnerV4: number;
  maxInnerV6: number;
}

interface Settings {
  port: number;
  vni: number;
  mtu: number | undefined;
}

export async function runCommand(argv: string[]): Promise<number> {
  const opts = parseRunOptions(argv);
  const log = createLogger(opts.logLevel);
  const netConf = opts.kube ? await readNetConf(opts.kube.netConf) : undefined;
  const settings = resolveDatapath(opts, netConf);
  const kc = opts.kube ? loadKubeConfig(opts.kube.kubeconfig) : undefined;
  const source: SubnetSource =
    kc && netConf
      ? new KubeSubnetSource(kc, { nodeName: opts.nodeName, networks: { v4: netConf.network, v6: netConf.networkV6 }, vni: settings.vni, publicIP: opts.publicIP }, log)
      : new StaticFileSource(opts.subnets!, log, { peersOnly: opts.mode === 'switch' });

  const undo: Undo[] = [() => source.stop()];
  const stop = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const onSignal = (): void => {
      log.info({ signal }, 'stopping');
      stop.abort(signal);
    };
    process.on(signal, onSignal);
    undo.push(() => void process.off(signal, onSignal));
  }
  let exitCode = 0;
  try {
    const daemon = new Daemon(opts, settings, log, source, kc, undo, stop);
    await daemon.start();
    if (!stop.signal.aborted) await once(stop.signal, 'abort');
    if (stop.signal.reason instanceof Error) {
      log.error({ err: stop.signal.reason }, 'datapath failed');
      exitCode = 1;
    }
  } finally {
    stop.abort();
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch (err) {
        log.error({ err }, 'cleanup step failed');
        exitCode = 1;
      }
    }
    log.info('stopped');
  }
  return exitCode;
}

/** One run of the daemon: what it set up is on the undo stack, in the order it was done. */
class Daemon {
  private notReady: string | undefined = 'waiting for the subnet table';
  private datapath: Datapath | undefined;
  private natBackend: NatBackend | undefined;

  constructor(
    private readonly opts: RunOptions,
    private readonly settings: Settings,
    private readonly log: Logger,
    private readonly source: SubnetSource,
    private readonly kc: KubeConfig | undefined,
    private readonly undo: Undo[],
    private readonly stop: AbortController,
  ) {}

  async start(): Promise<void> {
    const { opts, log, undo } = this;
    if (opts.metrics.length > 0) {
      const servers = await startHttpServer(
        opts.metrics,
        { nodeName: opts.nodeName, datapath: () => this.datapath, notReady: () => this.notReady ?? this.source.problem() },
        { node: opts.nodeName, iface: opts.iface, vni: String(this.settings.vni), port: String(this.settings.port), source: opts.kube ? 'kube' : 'static' },
      );
      undo.push(() => Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())))).then(() => undefined));
    }

    const initial = await Promise.race([this.source.start(), once(this.stop.signal, 'abort').then(() => undefined)]);
    if (initial === undefined) return; // stopped while waiting for our node
    let self = ownLease(initial, opts);
    const publicIP = opts.publicIP ?? self.publicIP;
    const publicIPv6 = self.publicIPv6;
    if (publicIP === undefined && publicIPv6 === undefined) throw new ConfigError('--public-ip', `our node ${self.name} has no underlay address in the table; pass --public-ip`);
    // Each underlay's room for an inner packet: its MTU less VXLAN's overhead over that family.
    const link4 = publicIP === undefined ? undefined : await this.underlay(publicIP);
    const link6 = publicIPv6 === undefined ? undefined : await this.underlay(publicIPv6);
    const maxInnerV4 = link4 ? link4.mtu - ENCAP_OVERHEAD_V4 : 0;
    const maxInnerV6 = link6 ? link6.mtu - ENCAP_OVERHEAD_V6 : 0;
    if (opts.switch) return this.startSwitch(opts.switch, initial, { publicIP, publicIPv6, maxInnerV4, maxInnerV6, link4, link6 });
    // Pods of a family travel over the same family's underlay when there is one, else over the other.
    const pathV4 = maxInnerV4 || maxInnerV6;
    const pathV6 = maxInnerV6 || maxInnerV4;
    const natural = self.podCIDR ? pathV4 : pathV6;
    const mtu = this.settings.mtu ?? natural;
    if (mtu > natural || mtu < 576) {
      const [overhead, link] = natural === maxInnerV4 ? [ENCAP_OVERHEAD_V4, link4!] : [ENCAP_OVERHEAD_V6, link6!];
      throw new ConfigError('--mtu', `${mtu} must be at least 576 and leave room for VXLAN's ${overhead}-byte overhead on ${link.ifname} (MTU ${link.mtu}); use at most ${natural}`);
    }
    const mtuV6 = Math.min(mtu, pathV6);
    if (self.podCIDRv6 && mtuV6 < 1280) throw new ConfigError('--mtu', `IPv6 pods need an MTU of at least 1280 (RFC 8200 §5); the underlay leaves ${mtuV6}`);

    const lock = await lockDevice(opts.iface);
    undo.push(() => void lock.close());

    const { udpFds, udp6Fds } = this.openSockets({ publicIP, publicIPv6 });

    const tun = await openTun(opts.iface, opts.workers, 'tun', opts.tunOffload);
    undo.push(() => closeTun(tun));
    let overlay = overlaySetup(tun.name, mtu, mtuV6, initial, self);
    const ipv6 = await setIpv6(tun.name, overlay.addressV6 !== undefined);
    undo.push(() => restoreIpv6(tun.name, ipv6));
    undo.push(() => removeOverlay(overlay));
    await applyOverlay(overlay);
    const acceptLocal = await enableAcceptLocal(tun.name);
    undo.push(() => restoreAcceptLocal(tun.name, acceptLocal));

    const datapath = new Datapath(
      {
        nodeName: opts.nodeName, tunFds: tun.fds, udpFds, udp6Fds, vni: this.settings.vni, port: this.settings.port,
        ownMac: self.vtepMAC, ownMacV6: self.vtepMACv6,
        tunAddressV4: overlay.address ? parseIpv4(overlay.address) : 0,
        tunAddressV6: overlay.addressV6 ? parseIpv6(overlay.addressV6) : Buffer.alloc(16),
        maxInnerV4, maxInnerV6,
        maxPacket: Math.max(mtu, maxInnerV4 + ENCAP_OVERHEAD_V4, maxInnerV6 + ENCAP_OVERHEAD_V6),
        tunOffload: opts.tunOffload,
      },
      initial,
    );
    this.datapath = datapath;
    undo.push(() => datapath.stop());
    datapath.exited.catch((err: Error) => this.stop.abort(err));
    log.info({ version: datapath.version, nodes: initial.nodes.length }, 'table loaded');

    this.source.onTable((table, why) => {
      void (async () => {
        try {
          const next = ownLease(table, opts);
          if (!next.vtepMAC.equals(self.vtepMAC) || !next.vtepMACv6.equals(self.vtepMACv6)) log.warn({ vtepMAC: next.vtepMAC, vtepMACv6: next.vtepMACv6 }, 'our own VTEP MAC changed in the table; restart vxroute to use it');
          const nextOverlay = overlaySetup(tun.name, mtu, mtuV6, table, next);
          await replaceAddress(nextOverlay, overlay);
          overlay = nextOverlay;
          const podCidrChanged = next.podCIDR?.text !== self.podCIDR?.text || next.podCIDRv6?.text !== self.podCIDRv6?.text;
          self = next;
          const version = datapath.publish(table);
          log.info({ version, nodes: table.nodes.length, why }, 'table loaded');
          if (podCidrChanged) await this.podNetworking(table, self, mtu);
        } catch (err) {
          log.error({ err, why }, 'table not applied; still forwarding on the last good table');
        }
      })();
    });
    const onHup = (): void => this.source.refresh('SIGHUP');
    process.on('SIGHUP', onHup);
    undo.push(() => void process.off('SIGHUP', onHup));

    // Only now that the datapath forwards: kubelet keeps the node NotReady until a CNI config exists.
    await this.podNetworking(initial, self, mtu);
    if (this.kc) await this.announce(this.kc, self);
    this.notReady = undefined;
    log.info({ iface: tun.name, adopted: tun.adopted, workers: opts.workers, mtu, mtuV6, port: this.settings.port, vni: this.settings.vni, address: overlay.address, addressV6: overlay.addressV6 }, 'ready');
  }

  /** Switch mode: a TAP in the node's bridge; the table gives only the peers. */
  private async startSwitch(sw: SwitchOptions, initial: SubnetTable, u: Underlay): Promise<void> {
    const { opts, log, undo } = this;
    // Every frame may go to any peer: the TAP's MTU is what the narrower underlay leaves.
    const natural = Math.min(...[u.maxInnerV4, u.maxInnerV6].filter((m) => m > 0));
    const mtu = this.settings.mtu ?? natural;
    if (mtu > natural || mtu < 576) {
      const link = natural === u.maxInnerV4 ? u.link4! : u.link6!;
      throw new ConfigError('--mtu', `${mtu} must be at least 576 and leave room for VXLAN's overhead on ${link.ifname} (MTU ${link.mtu}); use at most ${natural}`);
    }
    const lock = await lockDevice(opts.iface);
    undo.push(() => void lock.close());
    const { udpFds, udp6Fds } = this.openSockets(u);
    const tap = await openTun(opts.iface, opts.workers, 'tap', opts.tunOffload);
    undo.push(() => closeTun(tap));
    const joined = await joinBridge(sw.bridge, tap.name, mtu);
    undo.push(async () => {
      closeTun(tap);
      if (await leaveBridge(joined)) log.info({ bridge: sw.bridge }, 'bridge removed');
      else if (joined.created) log.info({ bridge: sw.bridge }, 'bridge left in place: other ports are still attached');
    });

    const datapath = new Datapath(
      {
        nodeName: opts.nodeName, tunFds: tap.fds, udpFds, udp6Fds, vni: this.settings.vni, port: this.settings.port,
        ownMac: Buffer.alloc(6), ownMacV6: Buffer.alloc(6), tunAddressV4: 0, tunAddressV6: Buffer.alloc(16),
        maxInnerV4: u.maxInnerV4, maxInnerV6: u.maxInnerV6,
        maxPacket: Math.max(mtu + ETH_HEADER_LEN + VLAN_TAG_LEN, u.maxInnerV4 + ENCAP_OVERHEAD_V4, u.maxInnerV6 + ENCAP_OVERHEAD_V6),
        tunOffload: opts.tunOffload,
        switch: { fdbMax: sw.fdbMax, agingMs: sw.agingSeconds * 1000, arpProxy: sw.arpProxy, mtu },
      },
      initial,
    );
    this.datapath = datapath;
    undo.push(() => datapath.stop());
    datapath.exited.catch((err: Error) => this.stop.abort(err));
    this.source.onTable((table, why) => {
      try {
        ownLease(table, opts);
        const version = datapath.publish(table);
        log.info({ version, nodes: table.nodes.length, why }, 'table loaded');
      } catch (err) {
        log.error({ err, why }, 'table not applied; still forwarding on the last good table');
      }
    });
    const onHup = (): void => this.source.refresh('SIGHUP');
    process.on('SIGHUP', onHup);
    undo.push(() => void process.off('SIGHUP', onHup));
    this.notReady = undefined;
    log.info({ mode: 'switch', iface: tap.name, bridge: sw.bridge, bridgeCreated: joined.created, workers: opts.workers, mtu, port: this.settings.port, vni: this.settings.vni, peers: initial.nodes.length - 1, fdbMax: sw.fdbMax, arpProxy: sw.arpProxy }, 'ready');
  }

  /** One UDP socket per worker and underlay family, bound before any device exists (a port in use fails first). */
  private openSockets(u: Pick<Underlay, 'publicIP' | 'publicIPv6'>): { udpFds: number[]; udp6Fds: number[] } {
    const udpFds: number[] = [];
    const udp6Fds: number[] = [];
    this.undo.push(() => [...udpFds, ...udp6Fds].forEach((fd) => addon.close(fd)));
    for (let i = 0; i < this.opts.workers; i++) {
      if (u.publicIP !== undefined) udpFds.push(addon.udpOpen(4, '0.0.0.0', this.settings.port));
      if (u.publicIPv6 !== undefined) udp6Fds.push(addon.udpOpen(6, '::', this.settings.port));
    }
    return { udpFds, udp6Fds };
  }

  /** The link that holds `address`; MTU 1500 with a warning when none does (NAT). */
  private async underlay(address: string): Promise<{ ifname: string; mtu: number }> {
    const link = await linkWithAddress(address);
    if (!link) this.log.warn({ address }, 'no local interface holds this underlay address (behind NAT?); assuming MTU 1500');
    return link ?? { ifname: 'the underlay', mtu: 1500 };
  }

  /** What pods need from us on this node: the CNI configuration (ours or flannel's subnet.env) and masquerade. */
  private async podNetworking(table: SubnetTable, self: NodeLease, mtu: number): Promise<void> {
    const { opts, log } = this;
    const pods = { podCIDR: self.podCIDR, podCIDRv6: self.podCIDRv6 };
    if (opts.ipMasq) {
      this.natBackend ??= opts.natBackend === 'auto' ? await detectNatBackend() : opts.natBackend;
      await applyMasquerade(this.natBackend, { ...pods, network: table.network, networkV6: table.networkV6 });
    }
    if (opts.subnetEnv !== undefined) {
      // FLANNEL_IPMASQ tells flannel's plugin whether masquerade is done for it (then the bridge must not).
      await writeSubnetEnv(opts.subnetEnv, { network: table.network, networkV6: table.networkV6, ...pods, mtu, ipMasq: opts.ipMasq });
    }
    if (opts.cni === 'vxroute' && (await writeConflist(opts.cniConfDir, { ...pods, mtu }))) {
      log.info({ dir: opts.cniConfDir, podCIDR: self.podCIDR?.text, podCIDRv6: self.podCIDRv6?.text, mtu }, 'CNI configuration written');
    }
  }

  /** Publishes our annotations and condition, retrying until the API server takes them. */
  private async announce(kc: KubeConfig, self: NodeLease): Promise<void> {
    this.notReady = 'publishing our node annotations';
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

function overlaySetup(device: string, mtu: number, mtuV6: number, table: SubnetTable, self: NodeLease): OverlaySetup {
  const v4 = self.podCIDR && table.network;
  const v6 = self.podCIDRv6 && table.networkV6;
  return {
    device,
    mtu,
    address: v4 ? self.podCIDR!.text.split('/')[0] : undefined,
    network: v4 ? table.network!.text : undefined,
    addressV6: v6 ? self.podCIDRv6!.text.split('/')[0] : undefined,
    networkV6: v6 ? table.networkV6!.text : undefined,
    mtuV6: v6 && mtuV6 < mtu ? mtuV6 : undefined,
  };
}
