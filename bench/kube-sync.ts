// How fast the Kubernetes API's Node objects become the table the workers forward on, at the
// Kubernetes scalability limit of 5,000 nodes. One `vxroute run --kube` in a node namespace,
// the test API server behind the lab's relay. Measured from the daemon's own log timestamps:
//   sync    first list request at the API server → 'table loaded' with every node (workers handed it)
//   change  one node's annotations replaced in the API → 'table loaded' carrying it
// Beside them, in the same run, the floor any client pays: one bare HTTP list of the same nodes
// and its JSON.parse, with no informer and no table.
//   npm run bench:kube-sync -- [--nodes 5000] [--changes 30]
import { request } from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeApiServer, type NodeObject } from '../src/lab/kube-api-server.js';
import { Lab } from '../src/lab/lab.js';
import { Annotation, formatBackendData } from '../src/subnets/flannel-annotations.js';

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '5000' }, changes: { type: 'string', default: '30' } } });
const nodeCount = Number(values.nodes);
const changes = Number(values.changes);
if (!(nodeCount >= 2 && nodeCount <= 8000)) throw new Error('--nodes must be 2..8000 (each peer gets a /29 of 10.244.0.0/16)');

/** Peer k's /29, skipping 10.244.1.0/24, which is the benchmarked node's own. */
function peerCidr(k: number): string {
  const offset = k * 8 < 256 ? k * 8 : k * 8 + 256;
  return `10.244.${offset >> 8}.${offset & 255}/29`;
}

function peer(k: number, macByte = 0): NodeObject {
  const name = `peer-${String(k).padStart(5, '0')}`;
  const mac = Buffer.from([0x0a, 0x58, macByte, (k >> 16) & 255, (k >> 8) & 255, k & 255]);
  const publicIP = `192.0.2.${2 + (k % 240)}`; // addresses are never sent to: no packet leaves this benchmark
  return {
    metadata: {
      name,
      annotations: {
        [Annotation.kubeSubnetManager]: 'true',
        [Annotation.backendType]: 'vxlan',
        [Annotation.backendData]: formatBackendData(1, mac),
        [Annotation.publicIP]: publicIP,
      },
    },
    spec: { podCIDR: peerCidr(k), podCIDRs: [peerCidr(k)] },
    status: { addresses: [{ type: 'InternalIP', address: publicIP }] },
  };
}

/** One list over the API server's unix socket, parsed: the floor under any informer. */
function bareList(socketPath: string): Promise<number> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    request({ socketPath, path: '/api/v1/nodes' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => {
        const list = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { items: unknown[] };
        if (list.items.length !== nodeCount) reject(new Error(`listed ${list.items.length} nodes`));
        resolve(performance.now() - start);
      });
    }).on('error', reject).end();
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const quantile = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

const lab = await Lab.create();
const api = new KubeApiServer();
try {
  const kubeconfig = await lab.addApiServer(api);
  const ours = await lab.addNode('vxroute', 0);
  api.upsertNode({ metadata: { name: ours.name }, spec: { podCIDR: ours.podCIDR }, status: { addresses: [{ type: 'InternalIP', address: ours.publicIP }] } });
  for (let k = 0; k < nodeCount - 1; k++) api.upsertNode(peer(k));

  const bare: number[] = [];
  for (let i = 0; i < 5; i++) bare.push(await bareList(join(lab.dir, 'api.sock')));

  const listsBefore = api.statsOf('nodes').lists;
  const daemon = await lab.startVxrouteKube(ours, kubeconfig, await lab.writeNetConf(), ['--workers', '2']);
  if (api.statsOf('nodes').lists !== listsBefore + 1) throw new Error(`expected one Node list from the daemon, saw ${api.statsOf('nodes').lists - listsBefore}`);
  const loaded = await daemon.waitForLog((l) => l.msg === 'table loaded' && l.nodes === nodeCount, 30_000);
  const syncMs = (loaded.time as number) - api.statsOf('nodes').lastListAt!;
  await daemon.waitForLog((l) => l.msg === 'node annotations published');

  const changeMs: number[] = [];
  for (let j = 0; j < changes; j++) {
    const from = daemon.logs.length;
    const k = (j * 7919) % (nodeCount - 1);
    const sent = Date.now();
    api.upsertNode(peer(k, j + 1)); // a new VTEP MAC, as after a flanneld restart with a new device
    const line = await daemon.waitForLog((l) => l.msg === 'table loaded', 10_000, from);
    changeMs.push((line.time as number) - sent);
    await new Promise((r) => setTimeout(r, 50));
  }

  const result = {
    nodes: nodeCount,
    bareListMs: median(bare),
    syncMs,
    syncOverBareList: syncMs / median(bare),
    changeMs: { median: median(changeMs), p95: quantile(changeMs, 0.95), max: Math.max(...changeMs) },
  };
  console.log(`${nodeCount} nodes; one vxroute --kube with 2 workers; times from the daemon's log clock\n`);
  console.log('| measure | time | ratio |');
  console.log('|---|---|---|');
  console.log(`| bare list + JSON.parse (median of 5) | ${result.bareListMs.toFixed(0)} ms | 1.00× |`);
  console.log(`| first list → table handed to the workers | ${syncMs} ms | ${result.syncOverBareList.toFixed(2)}× |`);
  console.log(`| one node's change → workers (median / p95 / max of ${changes}) | ${result.changeMs.median} / ${result.changeMs.p95} / ${result.changeMs.max} ms | |`);
  await mkdir('bench/results', { recursive: true });
  await writeFile(`bench/results/kube-sync-${Date.now()}.json`, JSON.stringify({ ...result, bare, changeMsAll: changeMs }, null, 2));
} finally {
  await lab.dispose();
  await api.close();
}
