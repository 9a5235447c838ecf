// The control plane applies table changes in order: a burst of changes to our own pod subnet,
// each older one slower to apply on the host (a slow `ip` on the daemon's PATH), must end with
// the newest table published and its address on the TUN, never an older one landing last.
import { chmod, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, NETWORK, type LabNode } from '../src/lab/lab.js';
import { inNs } from '../src/lab/netns.js';
import { cliPath, VxrouteProcess } from '../src/lab/vxroute-process.js';
import type { PeersView } from '../src/metrics/debug-peers.js';

const GENERATIONS = 6;

describe('table changes are applied in order', () => {
  let lab: Lab;
  let ours: LabNode;
  let peer: LabNode;

  beforeAll(async () => {
    lab = await Lab.create();
    ours = await lab.addNode('vxroute');
    peer = await lab.addNode('kernel');
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  /** Generation g: our pod subnet 10.244.(100+g).0/24 and g more nodes, so the table loaded says which it is (2 + g nodes). */
  async function writeGeneration(path: string, g: number): Promise<void> {
    const nodes = [
      { name: ours.name, podCIDR: g === 0 ? ours.podCIDR : `10.244.${100 + g}.0/24`, publicIP: ours.publicIP, vtepMAC: ours.vtepMAC },
      { name: peer.name, podCIDR: peer.podCIDR, publicIP: peer.publicIP, vtepMAC: peer.vtepMAC },
      ...Array.from({ length: g }, (_, i) => ({ name: `f${i + 1}`, podCIDR: `10.244.${200 + i}.0/24`, publicIP: `192.0.2.${100 + i}` })),
    ];
    await writeFile(`${path}.new`, JSON.stringify({ network: NETWORK, nodes }));
    await rename(`${path}.new`, path); // whole files only: a read never sees half of one
  }

  it('publishes the newest of a burst last, one change at a time, against slow host commands', async () => {
    const realIp = (await inNs(ours.ns, 'sh', ['-c', 'command -v ip'])).trim();
    const ipLog = join(lab.dir, 'ip.log');
    await writeFile(ipLog, '');
    // The older the generation, the longer its address change takes: the worst case for updates that race.
    const slowIp = join(lab.dir, 'ip');
    await writeFile(slowIp, `#!/bin/sh
g=$(echo "$*" | sed -n 's|.*addr replace 10\\.244\\.10\\([1-9]\\)\\.0/32 .*|\\1|p')
[ -z "$g" ] && exec ${realIp} "$@"
echo "start $g" >> ${ipLog}
sleep $(( ${GENERATIONS + 1} - g ))
${realIp} "$@"
status=$?
echo "end $g" >> ${ipLog}
exit $status
`);
    await chmod(slowIp, 0o755);
    // The daemon, with that \`ip\` first on its PATH.
    const launcher = join(lab.dir, 'vxroute-slow-ip.mjs');
    await writeFile(launcher, `process.env.PATH = ${JSON.stringify(`${lab.dir}:`)} + process.env.PATH;\nawait import(${JSON.stringify(cliPath())});\n`);
    const subnets = join(lab.dir, 'burst.json');
    await writeGeneration(subnets, 0);
    const daemon = await VxrouteProcess.start(ours.ns, ['run', '--node-name', ours.name, '--subnets', subnets, '--log-level', 'debug', '--workers', '1'], launcher);
    lab.onDispose(() => daemon.kill());
    try {
      const from = daemon.logs.length;
      // A burst: each generation is written once the daemon has read the one before (so each
      // reaches it), without waiting for any to be applied.
      for (let g = 1; g <= GENERATIONS; g++) {
        await writeGeneration(subnets, g);
        daemon.signal('SIGHUP');
        await daemon.waitForLog((l) => l.msg === 'table received' && l.nodes === 2 + g, 30_000, from);
      }
      const loaded = (): number[] => daemon.logs.slice(from).filter((l) => l.msg === 'table loaded').map((l) => (l.nodes as number) - 2);
      const failed = (): number => daemon.logs.slice(from).filter((l) => l.msg.startsWith('table not applied')).length;
      const ipCalls = async (): Promise<string[]> => (await readFile(ipLog, 'utf8')).split('\n').filter((l) => l !== '');
      // Settled: the newest is loaded, and every table whose address change began has come out, loaded or failed.
      const deadline = Date.now() + 90_000;
      for (;;) {
        const calls = await ipCalls();
        const begun = calls.filter((c) => c.startsWith('start')).length;
        if (loaded().includes(GENERATIONS) && loaded().length + failed() >= begun) break;
        if (Date.now() > deadline) throw new Error(`not settled: loaded ${loaded().join(',')}; ip: ${calls.join(', ')}`);
        await new Promise((r) => setTimeout(r, 100));
      }

      const order = loaded();
      expect(failed()).toBe(0);
      expect(order.at(-1)).toBe(GENERATIONS);
      for (let i = 1; i < order.length; i++) expect(order[i], `loaded in order ${order.join(',')}`).toBeGreaterThanOrEqual(order[i - 1]);
      // One address change at a time, each ended before the next began, in generation order.
      const calls = await ipCalls();
      for (let i = 0; i < calls.length; i += 2) {
        const g = calls[i].split(' ')[1];
        expect([calls[i], calls[i + 1]]).toEqual([`start ${g}`, `end ${g}`]);
        if (i > 0) expect(Number(g)).toBeGreaterThan(Number(calls[i - 2].split(' ')[1]));
      }
      expect(calls.length).toBeLessThan(2 * GENERATIONS); // the ones that came during a change collapsed into the newest

      // What the host and the shards have is the newest table.
      const addresses = JSON.parse(await inNs(ours.ns, 'ip', ['-j', '-4', 'addr', 'show', 'dev', 'vxroute0'])) as { addr_info: { local: string; prefixlen: number }[] }[];
      expect(addresses[0].addr_info.map((a) => `${a.local}/${a.prefixlen}`)).toEqual([`10.244.${100 + GENERATIONS}.0/32`]);
      const peers = JSON.parse((await daemon.get('/debug/peers')).body) as PeersView;
      expect(peers.self?.podCIDR).toBe(`10.244.${100 + GENERATIONS}.0/24`);
      expect(peers.peers).toHaveLength(1 + GENERATIONS);
    } finally {
      await daemon.stop();
    }
  }, 300_000);
});
