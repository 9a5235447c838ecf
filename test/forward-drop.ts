// A node whose FORWARD chain drops what it does not know, Docker's shape: a forward policy drop
// with accepts for the bridge `cni0` (what the node forwards for its pods; where br_netfilter is
// on, bridged pod frames pass the forward hook too, in and out of cni0). The tunnel-GSO TAP's
// frames are forwarded too, so such a chain drops them, and the daemon must switch back to
// datagrams with the stream intact (docs/decisions.md, "The tunnel-GSO send path in the daemon").
import { expect } from 'vitest';
import type { LabNode, Pod } from '../src/lab/lab.js';
import { inNs } from '../src/lab/netns.js';
import { tcpTransfer } from '../src/lab/traffic.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';

const TABLE = 'dockerlike';

/**
 * With the drop in `node`'s FORWARD hook, `restart()` starts its daemon; `bytes` of TCP from
 * `client` to `server` arrive intact, the daemon logs that the frames are dropped in the hook and
 * sends the rest as UDP GSO runs. The chain is removed and the daemon restarted afterwards.
 */
export async function expectSwitchBackOnForwardDrop(
  node: LabNode,
  restart: () => Promise<VxrouteProcess>,
  server: Pod,
  client: Pod,
  bytes: number,
): Promise<void> {
  await inNs(node.ns, 'nft', [
    `add table inet ${TABLE}; add chain inet ${TABLE} forward { type filter hook forward priority 0; policy drop; }; add rule inet ${TABLE} forward iifname "cni0" accept; add rule inet ${TABLE} forward oifname "cni0" accept`,
  ]);
  try {
    const daemon = await restart();
    const from = daemon.logs.length;
    const t = await tcpTransfer(server.ns, server.ip, client.ns, bytes);
    expect(t.receivedBytes).toBe(bytes);
    expect(t.receivedSha256).toBe(t.sentSha256);
    await daemon.waitForLog((l) => l.msg.startsWith('tunnel-GSO frames are dropped in the forward hook'), 10_000, from);
    expect((await daemon.counters()).udp.find((f) => f.family === 4)!.gsoRuns).toBeGreaterThan(0);
  } finally {
    await inNs(node.ns, 'nft', ['delete', 'table', 'inet', TABLE]);
    await restart();
  }
}
