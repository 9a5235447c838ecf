// iperf3 between two pods, for the benchmarks and the tests that need a measured stream.
import { spawn } from 'node:child_process';
import { inNs } from './netns.js';
import type { Pod } from './lab.js';

const IPERF_PORT = 5201;

/** Waits until something in `ns` listens on TCP `port` (a server just spawned there). */
export async function listening(ns: string, port: number): Promise<void> {
  for (let tries = 0; !(await inNs(ns, 'ss', ['-Hltn', `sport = :${port}`])).includes(`:${port}`); tries++) {
    if (tries === 500) throw new Error(`nothing listens on TCP ${port} in ${ns}`);
  }
}

/** One iperf3 run, client pod → `server` (at its `ip`, either family), as iperf3's JSON report. */
export async function iperfJson(server: Pick<Pod, 'ns' | 'ip'>, clientNs: string, args: string[], port = IPERF_PORT): Promise<Record<string, any>> {
  const srv = spawn('ip', ['netns', 'exec', server.ns, 'iperf3', '-s', '-1', '-B', server.ip, '-p', String(port)], { stdio: 'ignore' });
  try {
    await listening(server.ns, port);
    return JSON.parse(await inNs(clientNs, 'iperf3', ['-c', server.ip, '-p', String(port), '-J', ...args])) as Record<string, any>;
  } finally {
    srv.kill();
  }
}

/** Mbit/s received by `server` from `client` over `seconds` of one TCP stream. */
export async function iperf(server: Pick<Pod, 'ns' | 'ip'>, client: Pick<Pod, 'ns'>, seconds: number): Promise<number> {
  const report = await iperfJson(server, client.ns, ['-t', String(seconds)]);
  return (report.end as { sum_received: { bits_per_second: number } }).sum_received.bits_per_second / 1e6;
}

/** The median; of an even count, the mean of the middle two. */
export function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
