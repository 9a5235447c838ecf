// The debug endpoints stay on the node: a daemon listening on loopback and on its node address
// serves /debug/* (pod flow headers, the table, counters) to loopback connections only, unless
// --expose-debug; and a trace reader that stops reading is cut off instead of being buffered for.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { inNs } from '../src/lab/netns.js';
import { ping } from '../src/lab/traffic.js';
import { spawnCli } from '../src/lab/vxroute-cli.js';
import type { TraceRecord } from '../src/metrics/trace-decode.js';

const DEBUG_PATHS = ['/debug/counters', '/debug/peers', '/debug/fdb', '/debug/trace?count=1'];
const OPEN_PATHS = ['/metrics', '/healthz', '/readyz'];

/** GET `url` from inside namespace `ns` (as a process there would), with a deadline. */
async function httpGet(ns: string, url: string): Promise<{ status: number; body: string }> {
  const script = `const r = await fetch(process.argv[1], { signal: AbortSignal.timeout(15000) }); process.stdout.write(JSON.stringify({ status: r.status, body: await r.text() }));`;
  return JSON.parse(await inNs(ns, process.execPath, ['--input-type=module', '-e', script, url])) as { status: number; body: string };
}

/** One Prometheus sample's value from a scrape. */
function sample(metrics: string, name: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`no ${name} in the scrape`);
  return Number(line.slice(name.length + 1));
}

describe('debug endpoints stay on the node', () => {
  let lab: Lab;
  let ours: LabNode;
  let peer: LabNode;
  let subnets: string;

  beforeAll(async () => {
    lab = await Lab.create();
    ours = await lab.addNode('vxroute');
    peer = await lab.addNode('kernel');
    await lab.programKernelPeers();
    subnets = await lab.writeSubnets();
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  it('serves /debug/* to loopback connections only; the node address gets /metrics, /healthz and /readyz', async () => {
    const daemon = await lab.startVxroute(ours, subnets, ['--metrics-addr', '127.0.0.1:9475', '--metrics-addr', `${ours.publicIP}:9475`, '--metrics-addr', '0.0.0.0:9476']);
    try {
      for (const port of [9475, 9476]) {
        // From the peer node across the underlay: what Prometheus and the probes reach, and so does anyone else.
        for (const path of OPEN_PATHS) expect((await httpGet(peer.ns, `http://${ours.publicIP}:${port}${path}`)).status, path).toBe(200);
        for (const path of DEBUG_PATHS) {
          const r = await httpGet(peer.ns, `http://${ours.publicIP}:${port}${path}`);
          expect(r.status, path).toBe(403);
          expect(r.body).toMatch(new RegExp(`loopback addresses only .*--expose-debug to serve /debug/\\* on ${ours.publicIP.replace(/\./g, '\\.')}`));
        }
        // On the node itself but through its node address: still refused.
        expect((await httpGet(ours.ns, `http://${ours.publicIP}:${port}/debug/counters`)).status).toBe(403);
        // Through loopback: served (the wildcard listener too).
        const counters = await httpGet(ours.ns, `http://127.0.0.1:${port}/debug/counters`);
        expect(counters.status).toBe(200);
        expect(JSON.parse(counters.body)).toHaveProperty('drops');
        expect(JSON.parse((await httpGet(ours.ns, `http://127.0.0.1:${port}/debug/peers`)).body).peers[0].name).toBe(peer.name);
      }
    } finally {
      await daemon.stop();
    }
  });

  it('serves /debug/* on the node address too with --expose-debug', async () => {
    const daemon = await lab.startVxroute(ours, subnets, ['--metrics-addr', '127.0.0.1:9475', '--metrics-addr', `${ours.publicIP}:9475`, '--expose-debug']);
    try {
      const r = await httpGet(peer.ns, `http://${ours.publicIP}:9475/debug/peers`);
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body).self.name).toBe(ours.name);
      expect((await httpGet(peer.ns, `http://${ours.publicIP}:9475/debug/counters`)).status).toBe(200);
      expect((await httpGet(peer.ns, `http://${ours.publicIP}:9475/metrics`)).status).toBe(200);
    } finally {
      await daemon.stop();
    }
  });

  it('cuts off a trace reader that never reads, with memory bounded, while forwarding and other readers go on', async () => {
    const daemon = await lab.startVxroute(ours, subnets, ['--workers', '2']);
    const rssBefore = sample((await daemon.get('/metrics')).body, 'process_resident_memory_bytes');

    // A reader that asks for a long trace and then never reads a byte of it (the timer keeps it
    // alive: a socket that does not read holds no event loop open).
    const stalled = `const s = (await import('node:net')).connect(9475, '127.0.0.1', () => { s.write('GET /debug/trace?count=10000000 HTTP/1.1\\r\\nHost: vxroute\\r\\n\\r\\n'); s.pause(); console.log('asked'); });
setInterval(() => undefined, 1 << 30);`;
    const reader = spawn('ip', ['netns', 'exec', ours.ns, process.execPath, '--input-type=module', '-e', stalled], { stdio: ['ignore', 'pipe', 'inherit'] });
    lab.onDispose(() => reader.kill('SIGKILL'));
    const said: string[] = [];
    createInterface({ input: reader.stdout! }).on('line', (l) => said.push(l));

    // Traffic to trace until the daemon gives up on the reader (each ping: two traced packets).
    const cut = (): boolean => daemon.logs.some((l) => l.msg.startsWith('trace reader too slow'));
    for (let burst = 0; burst < 60 && !cut(); burst++) {
      const r = await ping(ours.pods[0].ns, peer.pods[0].ip, 3000, 0);
      expect(r.received).toBeGreaterThan(0); // forwarding goes on while the reader is stalled
      if (burst === 2) expect((await daemon.get('/metrics')).status).toBe(200); // and so do other requests
    }
    const line = await daemon.waitForLog((l) => l.msg.startsWith('trace reader too slow'), 5000);
    expect(line.backlog as number).toBeGreaterThan(1 << 20);
    expect(said).toEqual(['asked']); // it asked, and never read
    reader.kill('SIGKILL');
    const metrics = (await daemon.get('/metrics')).body;
    expect(sample(metrics, 'vxroute_trace_readers_cut_total')).toBe(1);
    // What the daemon holds for readers is bounded (the backlog, then nothing): no growth by the volume traced.
    expect(sample(metrics, 'process_resident_memory_bytes') - rssBefore).toBeLessThan(64 << 20);

    // The trace session is free again: a new reader gets packets.
    const trace = spawnCli(ours.ns, ['trace', '--count', '2', '--peer', peer.name, '--json']);
    let out = '';
    trace.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const traced = new Promise((r) => trace.once('close', r));
    let done = false;
    void traced.then(() => (done = true));
    for (let i = 0; i < 100 && !done; i++) expect((await ping(ours.pods[0].ns, peer.pods[0].ip, 1, 0.05)).received).toBe(1);
    expect(await traced).toBe(0);
    const records = out.trim().split('\n').map((l) => JSON.parse(l) as TraceRecord);
    expect(records).toHaveLength(2);
    for (const r of records) expect(r.peer).toBe(peer.name);
  }, 600_000);
});
