// At the Kubernetes scalability limit (5,000 Nodes from the API server), the daemon's resident
// set levels off over node changes and the reads that come with them: after a warm-up (the first
// changes grow each heap to its working size, docs/decisions.md "5,000 nodes: memory over
// changes"), what it holds no longer rises with the number of changes. A bound on memory, not on
// time: every change is awaited until the daemon's log shows the table carrying it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rssMB } from '../src/lab/daemon-memory.js';
import { KubeApiServer } from '../src/lab/kube-api-server.js';
import { Lab } from '../src/lab/lab.js';
import { churnNodes } from '../src/lab/node-churn.js';
import { NsHttpClient } from '../src/lab/ns-http-client.js';
import { peerNode } from '../src/lab/peer-nodes.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';

const NODES = 5000;
/** Changes before the measure: the measured curve levels off after 20–30 (bench:kube-sync --changes 100). */
const WARM_UP = 30;
const MEASURED = 60;
/** RSS is compared as the highest of the first and of the last WINDOW changes: each window spans a full collection of the main heap. */
const WINDOW = 10;
/**
 * How much the last window may stand above the first: measured +0.4 and +2.8 MB at load 11–14,
 * with single readings moving ±3 MB around their mean. Keeping each /debug/peers text (one in two
 * changes) made it +20 MB and more; any leak of about 150 KB per change or more fails it.
 */
const BOUND_MB = 8;

describe('5,000 nodes: memory over changes', () => {
  let lab: Lab;
  let api: KubeApiServer;
  let daemon: VxrouteProcess;
  let http: NsHttpClient;

  beforeAll(async () => {
    lab = await Lab.create();
    api = new KubeApiServer();
    const kubeconfig = await lab.addApiServer(api);
    const ours = await lab.addNode('vxroute', 0);
    api.upsertNode({ metadata: { name: ours.name }, spec: { podCIDR: ours.podCIDR }, status: { addresses: [{ type: 'InternalIP', address: ours.publicIP }] } });
    for (let k = 0; k < NODES - 1; k++) api.upsertNode(peerNode(k));
    daemon = await lab.startVxrouteKube(ours, kubeconfig, await lab.writeNetConf(), ['--workers', '2']);
    http = NsHttpClient.start(daemon.ns, `http://${daemon.metricsAddr}`);
    lab.onDispose(() => http.kill());
    await daemon.waitForLog((l) => l.msg === 'settled', 120_000);
    await daemon.waitForLog((l) => l.msg === 'table loaded' && l.nodes === NODES, 120_000);
  });
  afterAll(async () => {
    await http?.close();
    await lab?.dispose();
    await api?.close();
  });

  it('stops rising after the first changes and their /debug/peers and /metrics reads', async () => {
    const rss: number[] = [];
    await churnNodes(api, daemon, {
      peers: NODES - 1,
      changes: WARM_UP + MEASURED,
      get: (path) => http.get(path),
      after: async (done) => {
        if (done > WARM_UP) rss.push(await rssMB(daemon.pid));
      },
    });
    expect(rss).toHaveLength(MEASURED);
    const first = Math.max(...rss.slice(0, WINDOW));
    const last = Math.max(...rss.slice(-WINDOW));
    expect(last - first, `RSS after each change from change ${WARM_UP + 1} on, MB: ${rss.map((r) => r.toFixed(1)).join(' ')}`).toBeLessThan(BOUND_MB);
  });
});
