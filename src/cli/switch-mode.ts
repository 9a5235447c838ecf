// Switch mode: Ethernet frames on a TAP in the node's bridge; the table gives only the peers, so
// a new table changes nothing on the host. The bridge's pods are kept off every node's VXLAN port.
// Runs of a pod's TCP segments to one peer leave through the tunnel-GSO send path as in router
// mode (the inner packet is the pod's frame: untagged IPv4/IPv6 TCP with the same MACs makes a
// run; a VLAN tag, other protocols and floods to two or more peers of a family stay datagrams).
import { ConfigError } from '../config-error.js';
import { joinBridge, leaveBridge, type BridgePort } from '../net/bridge.js';
import { applyGuard } from '../net/pod-vxlan-guard.js';
import { closeTun, openTun, type TunDevice } from '../net/tun-device.js';
import { ENCAP_OVERHEAD_V4, ENCAP_OVERHEAD_V6, ETH_HEADER_LEN, VLAN_TAG_LEN } from '../packet/constants.js';
import type { SubnetTable } from '../subnets/subnet-table.js';
import type { Logger } from './log.js';
import { TunnelGsoSendPath } from './tunnel-gso-send-path.js';
import type { Mode, ModeDatapathConfig, Underlay, Undo } from './mode.js';
import type { RunOptions, SwitchOptions } from './run-options.js';

export class SwitchMode implements Mode {
  private readonly mtu: number;
  private tap: TunDevice | undefined;
  private joined: BridgePort | undefined;
  /** The tunnel-GSO send path (--send-path): the egress TAP and its checks. */
  private readonly sendPath: TunnelGsoSendPath;

  constructor(
    private readonly opts: RunOptions,
    private readonly sw: SwitchOptions,
    /** The VXLAN port, which the bridge's pods may not send to. */
    private readonly port: number,
    mtu: number | undefined,
    private readonly u: Underlay,
    private readonly initial: SubnetTable,
    private readonly log: Logger,
  ) {
    this.sendPath = new TunnelGsoSendPath(opts, u, log);
    // Every frame may go to any peer: the TAP's MTU is what the narrower underlay leaves.
    const natural = Math.min(...[u.maxInnerV4, u.maxInnerV6].filter((m) => m > 0));
    this.mtu = mtu ?? natural;
    if (this.mtu > natural || this.mtu < 576) {
      const link = natural === u.maxInnerV4 ? u.link4! : u.link6!;
      throw new ConfigError('--mtu', `${this.mtu} must be at least 576 and leave room for VXLAN's overhead on ${link.ifname} (MTU ${link.mtu}); use at most ${natural}`);
    }
  }

  async open(undo: Undo[]): Promise<ModeDatapathConfig> {
    const { opts, sw, u, mtu, log } = this;
    const tap = await openTun(opts.iface, opts.workers, 'tap', opts.tunOffload);
    this.tap = tap;
    if (opts.tunOffload && !tap.uso) log.info({ iface: tap.name }, 'UDP segmentation offload unavailable on the TAP (TUNSETOFFLOAD refused USO4/6: Linux before 6.2): UDP from pods is read and written one datagram at a time');
    undo.push(() => closeTun(tap));
    const joined = await joinBridge(sw.bridge, tap.name, mtu);
    this.joined = joined;
    undo.push(async () => {
      closeTun(tap);
      if (await leaveBridge(joined)) log.info({ bridge: sw.bridge }, 'bridge removed');
      else if (joined.created) log.info({ bridge: sw.bridge }, 'bridge left in place: other ports are still attached');
    });
    await applyGuard({ bridge: sw.bridge, podCIDR: undefined, podCIDRv6: undefined, port: this.port });
    // The TAP's MTU fits the narrower underlay, so a segment's datagram fits either family's.
    const tunnelGso = await this.sendPath.open(tap.name, undo);
    return {
      tunFds: tap.fds, ownMac: Buffer.alloc(6), ownMacV6: Buffer.alloc(6), tunAddressV4: 0, tunAddressV6: Buffer.alloc(16),
      maxPacket: Math.max(mtu + ETH_HEADER_LEN + VLAN_TAG_LEN, u.maxInnerV4 + ENCAP_OVERHEAD_V4, u.maxInnerV6 + ENCAP_OVERHEAD_V6),
      deviceMtu: mtu,
      switch: { fdbMax: sw.fdbMax, agingMs: sw.agingSeconds * 1000, arpProxy: sw.arpProxy, mtu },
      tunnelGso,
    };
  }

  apply(): Promise<void> {
    return Promise.resolve();
  }

  applied(): Promise<void> {
    return Promise.resolve();
  }

  describe(): Record<string, unknown> {
    const { sw } = this;
    return { mode: 'switch', iface: this.tap?.name, bridge: sw.bridge, bridgeCreated: this.joined?.created, mtu: this.mtu, peers: this.initial.nodes.length - 1, fdbMax: sw.fdbMax, arpProxy: sw.arpProxy, sendPath: this.sendPath.describe() };
  }
}
