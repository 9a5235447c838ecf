// A stream of Node changes through the test API server to a running `vxroute --kube`, each
// awaited until the daemon logs the table carrying it, each followed by a read of /debug/peers or
// /metrics (in turn), as an operator's and Prometheus's would come. The changes go in threes on
// one peer: its VTEP MAC replaced, the node deleted, the node added back with another MAC.
import type { KubeApiServer } from './kube-api-server.js';
import type { HttpAnswer } from './ns-http-client.js';
import { peerNode } from './peer-nodes.js';
import type { VxrouteProcess } from './vxroute-process.js';

export interface Churn {
  /** Peers in the API server, numbered 0..peers-1 (peerNode). */
  peers: number;
  changes: number;
  /** GETs a path of the daemon's HTTP endpoint. */
  get: (path: string) => Promise<HttpAnswer>;
  /** Called after change number `done` (1-based) and its read. */
  after?: (done: number) => Promise<void>;
}

/** VTEP MACs handed out so far, across runs too: each is a MAC byte of 1..255, never the first peers' 0 nor the one before. */
let macChanges = 0;
const nextMacByte = (): number => 1 + (macChanges++ % 255);

/** Makes the changes; resolves with each one's time from the API server to the daemon's 'table loaded' line, in ms. */
export async function churnNodes(api: KubeApiServer, daemon: VxrouteProcess, { peers, changes, get, after }: Churn): Promise<number[]> {
  const nodes = api.listNodes().length;
  const changeMs: number[] = [];
  for (let j = 0; j < changes; j++) {
    const k = (Math.floor(j / 3) * 7919) % peers;
    const from = daemon.logs.length;
    const sent = Date.now();
    const step = j % 3;
    if (step === 1) {
      if (!api.deleteNode(peerNode(k).metadata.name)) throw new Error(`peer ${k} was not in the API server`);
    } else {
      api.upsertNode(peerNode(k, nextMacByte()));
    }
    const expected = step === 1 ? nodes - 1 : nodes;
    const line = await daemon.waitForLog((l) => l.msg === 'table loaded' && l.nodes === expected, 30_000, from);
    changeMs.push((line.time as number) - sent);
    const read = await get(j % 2 === 0 ? '/debug/peers' : '/metrics');
    if (read.status !== 200) throw new Error(`read after change ${j + 1} answered ${read.status}`);
    await after?.(j + 1);
  }
  return changeMs;
}
