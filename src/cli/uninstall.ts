// `vxroute uninstall`: removes from this node what vxroute put there — its device (with the
// addresses and routes on it), DirectRouting's routes, its CNI configuration, the subnet.env it
// was told to write, and its nftables tables (masquerade, the guard that keeps pods off the
// VXLAN port, the steering of same-node pod traffic with its ip rules and routing table, and the
// tunnel-GSO send path's forward check). Idempotent: what is already gone is reported, not an error.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError } from '../config-error.js';
import { CONFLIST_NAME } from '../net/cni-conflist.js';
import { lockDevice } from '../net/instance-lock.js';
import { DIRECT_ROUTE_PROTO, removeDirectRoutes } from '../net/direct-routes.js';
import { ip } from '../net/ip-command.js';
import { findLink } from '../net/links.js';
import { removeMasquerade, NAT_CHAIN, NAT_TABLE } from '../net/masquerade.js';
import { removeGuard, GUARD_TABLE } from '../net/pod-vxlan-guard.js';
import { removeSameNode, SAME_NODE_ROUTE_TABLE, SAME_NODE_RULE_PREF, SAME_NODE_TABLE } from '../net/same-node-steering.js';
import { removeForwardCheck, TUNNEL_TABLE } from '../net/tunnel-gso-tap.js';
import { DEFAULT_CNI_CONF_DIR } from './run-options.js';

export const UNINSTALL_USAGE = `Usage: vxroute uninstall [--iface NAME] [--cni-conf-dir DIR] [--subnet-env FILE]

Removes what vxroute put on this node, after its daemon has stopped: the device (default
vxroute0) with its addresses and routes, DirectRouting's routes to peers' pods (proto
${DIRECT_ROUTE_PROTO}), ${CONFLIST_NAME} in the CNI configuration directory, its masquerade
(nftables table inet ${NAT_TABLE}, or iptables chain ${NAT_CHAIN}), the guard that drops pods'
UDP to the VXLAN port (nftables table inet ${GUARD_TABLE}), the steering of traffic between
two pods of the node through the network policy (nftables table bridge ${SAME_NODE_TABLE}, ip
rules pref ${SAME_NODE_RULE_PREF}, routing table ${SAME_NODE_ROUTE_TABLE}), the tunnel-GSO send
path's forward check (nftables table inet ${TUNNEL_TABLE}; its TAP goes with the daemon), and,
when named, the subnet.env it wrote.
Running it again is not an error. The pods' veths and cni0 belong to the CNI plugins: they go
with the pods.

Options:
  --iface NAME          the device vxroute ran on (default: vxroute0)
  --cni-conf-dir DIR    where it wrote its conflist (default: ${DEFAULT_CNI_CONF_DIR})
  --subnet-env FILE     the subnet.env it wrote with --cni flannel (default: leave subnet.env alone;
                        flanneld may own it)
  -h, --help            show this help
`;

export async function uninstallCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv, strict: true, allowPositionals: false,
      options: { iface: { type: 'string', default: 'vxroute0' }, 'cni-conf-dir': { type: 'string', default: DEFAULT_CNI_CONF_DIR }, 'subnet-env': { type: 'string' } },
    }));
  } catch (err) {
    throw new ConfigError('arguments', `${(err as Error).message} (see vxroute uninstall --help)`, { cause: err });
  }
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  const iface = values.iface!;

  const lock = await lockDevice(iface); // refuses while a daemon runs on it
  try {
    if (await findLink(iface)) {
      await ip(['link', 'del', 'dev', iface]);
      say(`removed device ${iface} (its addresses and routes with it)`);
    } else {
      say(`device ${iface}: not there`);
    }
    const direct = await removeDirectRoutes();
    say(direct > 0 ? `removed ${direct} direct route(s) (proto ${DIRECT_ROUTE_PROTO})` : `direct routes (proto ${DIRECT_ROUTE_PROTO}): not there`);
  } finally {
    lock.close();
  }
  const files = [join(values['cni-conf-dir']!, CONFLIST_NAME), ...(values['subnet-env'] ? [values['subnet-env']] : [])];
  for (const file of files) {
    const existed = await rm(file).then(() => true, (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? false : Promise.reject(err)));
    say(existed ? `removed ${file}` : `${file}: not there`);
  }
  const removed = await removeMasquerade();
  for (const what of removed) say(`removed ${what}`);
  if (removed.length === 0) say(`masquerade (nftables table inet ${NAT_TABLE}, iptables chain ${NAT_CHAIN}): not there`);
  const guard = await removeGuard().catch((err: Error) => (/not installed/.test(err.message) ? [] : Promise.reject(err)));
  for (const what of guard) say(`removed ${what}`);
  if (guard.length === 0) say(`guard (nftables table inet ${GUARD_TABLE}): not there`);
  const sameNode = await removeSameNode();
  for (const what of sameNode) say(`removed ${what}`);
  if (sameNode.length === 0) say(`same-node steering (nftables table bridge ${SAME_NODE_TABLE}, ip rules pref ${SAME_NODE_RULE_PREF}): not there`);
  const forwardCheck = await removeForwardCheck().catch((err: Error) => (/not installed/.test(err.message) ? [] : Promise.reject(err)));
  for (const what of forwardCheck) say(`removed ${what}`);
  if (forwardCheck.length === 0) say(`tunnel-GSO forward check (nftables table inet ${TUNNEL_TABLE}): not there`);
  return 0;
}
