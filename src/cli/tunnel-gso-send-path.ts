// The tunnel-GSO send path (--send-path auto|tunnel-gso|cut) as both modes open it beside their
// device: the egress TAP and its checks (src/net/tunnel-gso-tap.ts), one log line per family
// either way, and the watch that turns the path off when the forward hook drops its frames. The
// datapath is the same in both modes: a run of one TCP flow's datagrams to one peer, whatever the
// inner packet (router mode's, or switch mode's pod frame), is checked by the native run plan.
import { ConfigError } from '../config-error.js';
import { openTunnelGsoTap, watchForwardDrop, type TunnelFamily } from '../net/tunnel-gso-tap.js';
import type { Logger } from './log.js';
import type { ModeDatapathConfig, Underlay, Undo } from './mode.js';
import type { RunOptions } from './run-options.js';

/** Per underlay family, how runs leave now ('tunnel-gso' or 'cut'; absent: no underlay of that family), for the "ready" line. */
export interface SendPathState {
  v4?: string;
  v6?: string;
}

/** Outer IPv4 and IPv6 header lengths, and UDP's: what a segment's datagram leaves of the underlay MTU. */
const OUTER_IPV4 = 20;
const OUTER_IPV6 = 40;
const UDP_HEADER = 8;

export class TunnelGsoSendPath {
  private state: SendPathState = {};

  constructor(
    private readonly opts: Pick<RunOptions, 'sendPath' | 'workers'>,
    private readonly u: Underlay,
    private readonly log: Logger,
  ) {}

  /**
   * Opens the egress TAP named after `device` (the mode's TUN or TAP) when --send-path allows;
   * undefined when no family takes the path. Every step's undo goes on `undo` as it is done.
   */
  async open(device: string, undo: Undo[]): Promise<ModeDatapathConfig['tunnelGso']> {
    const { opts, u, log } = this;
    if (opts.sendPath === 'cut') {
      this.state = { v4: 'cut', v6: 'cut' };
      return undefined;
    }
    const family = (local: string | undefined, link: { mtu: number } | undefined, outerIp: number): TunnelFamily | undefined =>
      local !== undefined && link ? { local, maxDatagram: link.mtu - outerIp - UDP_HEADER } : undefined;
    const v4 = family(u.publicIP, u.link4, OUTER_IPV4);
    const v6 = family(u.publicIPv6, u.link6, OUTER_IPV6);
    const opened = await openTunnelGsoTap(device, opts.workers, v4, v6, undo);
    for (const [name, off, has] of [['IPv4', opened.off4, v4], ['IPv6', opened.off6, v6]] as const) {
      if (!has) continue;
      if (off && opts.sendPath === 'tunnel-gso') throw new ConfigError('--send-path', `tunnel-gso cannot be used on the ${name} underlay: ${off}; use auto or cut`);
      if (off) log.info({ family: name, reason: off }, 'tunnel-GSO send path off: runs leave as UDP GSO datagrams');
      else log.info({ family: name, tap: opened.tap!.name }, 'tunnel-GSO send path on: runs of a TCP flow leave as one frame through the egress TAP');
    }
    const { tap } = opened;
    this.state = { v4: v4 ? (opened.off4 ? 'cut' : 'tunnel-gso') : undefined, v6: v6 ? (opened.off6 ? 'cut' : 'tunnel-gso') : undefined };
    if (!tap) return undefined;
    const on = new Int32Array(tap.on);
    const stop = watchForwardDrop((passed) => {
      Atomics.store(on, 0, 0);
      Atomics.store(on, 1, 0);
      this.state = { v4: this.state.v4 && 'cut', v6: this.state.v6 && 'cut' };
      log.warn({ tap: tap.name, passed }, 'tunnel-GSO frames are dropped in the forward hook (a FORWARD policy or rule that drops): back to UDP GSO datagrams');
    });
    undo.push(stop);
    return {
      tapFds: tap.fds, mac: tap.mac, on: tap.on,
      v4: v4 && !opened.off4 ? { local: v4.local, maxDatagram: v4.maxDatagram } : undefined,
      v6: v6 && !opened.off6 ? { local: v6.local, maxDatagram: v6.maxDatagram } : undefined,
    };
  }

  describe(): SendPathState {
    return this.state;
  }
}
