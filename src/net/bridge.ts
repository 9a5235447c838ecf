// Switch mode's place on the host: the node's Linux bridge (created when absent) with our TAP as
// one of its ports. Undone in reverse: the TAP leaves with its last queue; a bridge we created
// goes only if nothing else is attached to it by then (pods may be).
import { ip, ipJson } from './ip-command.js';
import { findLink } from './links.js';
import { ConfigError } from '../config-error.js';

export interface BridgePort {
  bridge: string;
  port: string;
  /** True when we created the bridge. */
  created: boolean;
}

/** Makes `port` (our TAP) a port of `bridge` with the given MTU, creating the bridge if absent. */
export async function joinBridge(bridge: string, port: string, mtu: number): Promise<BridgePort> {
  const existing = await findLink(bridge);
  if (existing && existing.linkinfo?.info_kind !== 'bridge') {
    throw new ConfigError('--bridge', `${bridge} exists and is a ${existing.linkinfo?.info_kind ?? existing.link_type ?? 'non-bridge'} device, not a bridge: pick another name (--bridge) or delete it`);
  }
  if (!existing) await ip(['link', 'add', bridge, 'type', 'bridge']);
  const joined: BridgePort = { bridge, port, created: !existing };
  try {
    await ip(['link', 'set', 'dev', bridge, 'up']);
    // The port has no address of its own: no IPv6 link-local, no router solicitations into the switch.
    await ip(['link', 'set', 'dev', port, 'addrgenmode', 'none']);
    await ip(['link', 'set', 'dev', port, 'mtu', String(mtu), 'master', bridge, 'up']);
  } catch (err) {
    await leaveBridge(joined);
    throw err;
  }
  return joined;
}

/** Removes the bridge if we created it and no port is left on it; returns whether it went. */
export async function leaveBridge(b: BridgePort): Promise<boolean> {
  if (!b.created) return false;
  const ports = await ipJson<{ ifname: string }>(['link', 'show', 'master', b.bridge]).catch(() => []);
  if (ports.some((p) => p.ifname !== b.port)) return false;
  await ip(['link', 'del', b.bridge]).catch(() => undefined);
  return true;
}
