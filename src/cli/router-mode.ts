// Router mode: IP packets on a TUN, routed by pod CIDR. On the host: the TUN's MTU, our
// addresses on it and the cluster routes through it, accept_local, IPv6 on or off; once the
// datapath forwards, what pods need (CNI configuration or flannel's subnet.env, masquerade) and
// the guard that keeps them off every node's VXLAN port. The rules for our pods (the guard,
// masquerade and, with NetworkPolicy, the steering that sends traffic between two of our pods
// through the TUN) are in force before the datapath starts (until it reads the TUN, steered
// traffic waits there or is dropped: never unpoliced); only what tells pods to come (the CNI
// configuration, subnet.env) waits for it. What does not depend on each other is set up
// concurrently, one nft at a time. With DirectRouting, peers on our
// underlay subnet get kernel routes: added before the shards drop those peers from their table,
// removed only after the shards route them again.
import { ConfigError } from '../config-error.js';
import { applyOverlay, enableAcceptLocal, removeOverlay, replaceAddress, restoreAcceptLocal, restoreIpv6, setIpv6, type OverlaySetup } from '../net/host-routes.js';
import { CNI_BRIDGE, writeConflist } from '../net/cni-conflist.js';
import { planDirectRoutes, type DirectRoute } from '../net/direct-route-plan.js';
import { addDirectRoutes, kernelRouteLookup, pruneDirectRoutes, removeDirectRoutes } from '../net/direct-routes.js';
import { applyMasquerade, detectNatBackend, type NatBackend } from '../net/masquerade.js';
import { applyGuard } from '../net/pod-vxlan-guard.js';
import { applySameNode, removeSameNode, restoreSameNode, type SameNodeSetup } from '../net/same-node-steering.js';
import { ownPodsOf } from '../datapath/same-node-hairpin.js';
import { writeSubnetEnv } from '../net/subnet-env.js';
import { closeTun, openTun, type TunDevice } from '../net/tun-device.js';
import { ENCAP_OVERHEAD_V4, ENCAP_OVERHEAD_V6 } from '../packet/constants.js';
import { parseIpv4, parseIpv6 } from '../address/ip-text.js';
import type { NodeLease, SubnetTable } from '../subnets/subnet-table.js';
import type { Logger } from './log.js';
import type { Mode, ModeDatapathConfig, Underlay, Undo } from './mode.js';
import { OwnLease } from './own-lease.js';
import { settleAll } from './settle-all.js';
import { TunnelGsoSendPath } from './tunnel-gso-send-path.js';
import type { RunOptions } from './run-options.js';

export class RouterMode implements Mode {
  private readonly mtu: number;
  private readonly mtuV6: number;
  private tun: TunDevice | undefined;
  private overlay: OverlaySetup | undefined;
  private natBackend: NatBackend | undefined;
  /** The pod CIDRs the rules for our pods, and the pods' configuration, were last set up for. */
  private rulesFor: string | undefined;
  private podsSetUpFor: string | undefined;
  /** DirectRouting's routes for the table being applied (empty when it is off). */
  private directRoutes: DirectRoute[] = [];
  /** Same-node steering in force (NetworkPolicy on), for its undo. */
  private sameNode: SameNodeSetup | undefined;
  /** Our lease from the newest table applied. */
  private readonly own: OwnLease;
  /** The tunnel-GSO send path (--send-path): the egress TAP and its checks. */
  private readonly sendPath: TunnelGsoSendPath;

  constructor(
    private readonly opts: RunOptions,
    /** The VXLAN port, which our pods may not send to. */
    private readonly port: number,
    mtu: number | undefined,
    private readonly u: Underlay,
    private readonly initial: SubnetTable,
    self: NodeLease,
    private readonly log: Logger,
    private readonly directRouting = false,
  ) {
    this.own = new OwnLease(self);
    this.sendPath = new TunnelGsoSendPath(opts, u, log);
    const { maxInnerV4, maxInnerV6, link4, link6 } = u;
    // Pods of a family travel over the same family's underlay when there is one, else over the other.
    const pathV4 = maxInnerV4 || maxInnerV6;
    const pathV6 = maxInnerV6 || maxInnerV4;
    const natural = self.podCIDR ? pathV4 : pathV6;
    this.mtu = mtu ?? natural;
    if (this.mtu > natural || this.mtu < 576) {
      const [overhead, link] = natural === maxInnerV4 ? [ENCAP_OVERHEAD_V4, link4!] : [ENCAP_OVERHEAD_V6, link6!];
      throw new ConfigError('--mtu', `${this.mtu} must be at least 576 and leave room for VXLAN's ${overhead}-byte overhead on ${link.ifname} (MTU ${link.mtu}); use at most ${natural}`);
    }
    this.mtuV6 = Math.min(this.mtu, pathV6);
    if (self.podCIDRv6 && this.mtuV6 < 1280) throw new ConfigError('--mtu', `IPv6 pods need an MTU of at least 1280 (RFC 8200 §5); the underlay leaves ${this.mtuV6}`);
  }

  async open(undo: Undo[]): Promise<ModeDatapathConfig> {
    const { opts, u, mtu } = this;
    const tun = await openTun(opts.iface, opts.workers, 'tun', opts.tunOffload);
    this.tun = tun;
    if (opts.tunOffload && !tun.uso) this.log.info({ iface: tun.name }, 'UDP segmentation offload unavailable on the TUN (TUNSETOFFLOAD refused USO4/6: Linux before 6.2): UDP from pods is read and written one datagram at a time');
    undo.push(() => closeTun(tun));
    const self = this.own.current;
    const overlay = overlaySetup(tun.name, mtu, this.mtuV6, this.initial, self);
    this.overlay = overlay;
    const ipv6 = await setIpv6(tun.name, overlay.addressV6 !== undefined);
    undo.push(() => restoreIpv6(tun.name, ipv6));
    undo.push(() => removeOverlay(this.overlay!)); // the addresses in force at exit, after any table change
    await applyOverlay(overlay);
    // Ours from an earlier run go too (kill -9, or DirectRouting since turned off): they would hide peers from the TUN.
    undo.push(async () => void (await removeDirectRoutes()));
    const policy = opts.kube?.networkPolicy === true;
    if (policy) undo.push(async () => void (this.sameNode ? await restoreSameNode(this.sameNode) : await removeSameNode()));
    const tunnelGso = await this.sendPath.open(tun.name, undo);
    await settleAll([
      enableAcceptLocal(tun.name).then((acceptLocal) => void undo.push(() => restoreAcceptLocal(tun.name, acceptLocal))),
      this.routeDirectly(this.initial).then(() => pruneDirectRoutes(this.directRoutes)),
      // An earlier run's steering (kill -9, or the policy since turned off) would hold same-node traffic: replaced or removed.
      (policy ? Promise.resolve() : removeSameNode()).then(() => this.podRules(this.initial, self)),
    ]);
    return {
      ownPods: policy ? ownPodsOf(self.podCIDR, self.podCIDRv6) : undefined,
      tunFds: tun.fds, ownMac: self.vtepMAC, ownMacV6: self.vtepMACv6,
      tunAddressV4: overlay.address ? parseIpv4(overlay.address) : 0,
      tunAddressV6: overlay.addressV6 ? parseIpv6(overlay.addressV6) : Buffer.alloc(16),
      maxPacket: Math.max(mtu, u.maxInnerV4 + ENCAP_OVERHEAD_V4, u.maxInnerV6 + ENCAP_OVERHEAD_V6),
      deviceMtu: mtu,
      tunnelGso,
    };
  }

  /** Moves our addresses when our pod subnets changed. */
  async apply(table: SubnetTable, self: NodeLease): Promise<void> {
    if (this.own.take(self)) {
      this.log.warn({ vtepMAC: self.vtepMAC, vtepMACv6: self.vtepMACv6 }, 'our own VTEP MAC changed in the table; restart vxroute to use it');
    }
    const next = overlaySetup(this.tun!.name, this.mtu, this.mtuV6, table, self);
    await replaceAddress(next, this.overlay!);
    this.overlay = next;
    await this.routeDirectly(table);
  }

  direct(): ReadonlySet<string> {
    return new Set(this.directRoutes.map((r) => r.cidr));
  }

  /** Writes what pods need when our pod subnets are new (the first table, or a change). */
  async applied(table: SubnetTable, self: NodeLease): Promise<void> {
    const pruned = this.directRouting ? await pruneDirectRoutes(this.directRoutes) : 0;
    if (pruned > 0) this.log.info({ removed: pruned, direct: this.directRoutes.length }, 'direct routes removed');
    const pods = podsOf(self);
    if (pods === this.podsSetUpFor) return;
    await this.podRules(table, self);
    await this.podConfiguration(table, self);
    this.podsSetUpFor = pods;
  }

  describe(): Record<string, unknown> {
    return {
      iface: this.tun?.name, adopted: this.tun?.adopted, mtu: this.mtu, mtuV6: this.mtuV6, address: this.overlay?.address, addressV6: this.overlay?.addressV6,
      sendPath: this.sendPath.describe(),
      ...(this.directRouting ? { directRoutes: this.directRoutes.length } : {}),
    };
  }

  /** The host's rules for our pods, unless they are in force for these pod CIDRs: the guard, the steering, masquerade (one nft at a time). */
  private async podRules(table: SubnetTable, self: NodeLease): Promise<void> {
    const { opts, log } = this;
    const key = podsOf(self);
    if (key === this.rulesFor) return;
    const pods = { podCIDR: self.podCIDR, podCIDRv6: self.podCIDRv6 };
    // flannel's CNI plugin and our conflist both put pods on cni0.
    await applyGuard({ bridge: CNI_BRIDGE, ...pods, port: this.port });
    if (opts.kube?.networkPolicy) {
      this.sameNode = await applySameNode({ bridge: CNI_BRIDGE, tun: this.tun!.name, ...pods });
      log.info({ bridge: CNI_BRIDGE, podCIDR: self.podCIDR?.text, podCIDRv6: self.podCIDRv6?.text }, 'traffic between our pods steered through the network policy');
    }
    if (opts.ipMasq) {
      this.natBackend ??= opts.natBackend === 'auto' ? await detectNatBackend() : opts.natBackend;
      await applyMasquerade(this.natBackend, { ...pods, network: table.network, networkV6: table.networkV6 });
    }
    this.rulesFor = key;
  }

  /** Plans DirectRouting's routes for `table` from the kernel's route lookups and adds the new ones. */
  private async routeDirectly(table: SubnetTable): Promise<void> {
    if (!this.directRouting) return;
    const own = { v4: this.u.publicIP !== undefined, v6: this.u.publicIPv6 !== undefined };
    this.directRoutes = await planDirectRoutes(table, this.own.current.name, own, this.tun!.name, kernelRouteLookup);
    const added = await addDirectRoutes(this.directRoutes);
    if (added > 0) this.log.info({ added, direct: this.directRoutes.length }, 'direct routes added');
  }

  /** What tells pods to come, once the datapath forwards: the CNI configuration (ours or flannel's subnet.env). */
  private async podConfiguration(table: SubnetTable, self: NodeLease): Promise<void> {
    const { opts, log, mtu } = this;
    const pods = { podCIDR: self.podCIDR, podCIDRv6: self.podCIDRv6 };
    if (opts.subnetEnv !== undefined) {
      // FLANNEL_IPMASQ tells flannel's plugin whether masquerade is done for it (then the bridge must not).
      await writeSubnetEnv(opts.subnetEnv, { network: table.network, networkV6: table.networkV6, ...pods, mtu, ipMasq: opts.ipMasq });
    }
    if (opts.cni === 'vxroute' && (await writeConflist(opts.cniConfDir, { ...pods, mtu }))) {
      log.info({ dir: opts.cniConfDir, podCIDR: self.podCIDR?.text, podCIDRv6: self.podCIDRv6?.text, mtu }, 'CNI configuration written');
    }
  }
}

function podsOf(self: NodeLease): string {
  return `${self.podCIDR?.text} ${self.podCIDRv6?.text}`;
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
