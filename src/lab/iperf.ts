// Single-stream TCP throughput between two pods with iperf3, for the benchmarks.
import { spawn } from 'node:child_process';
import { inNs } from './netns.js';
import type { Pod } from './lab.js';

/** Mbit/s received by `server` (at its `ip`, either family) from `client` over `seconds`. */
export async function iperf(server: Pick<Pod, 'ns' | 'ip'>, client: Pick<Pod, 'ns'>, seconds: number): Promise<number> {
  const srv = spawn('ip', ['netns', 'exec', server.ns, 'iperf3', '-s', '-1', '-B', server.ip], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 300));
    const out = await inNs(client.ns, 'iperf3', ['-c', server.ip, '-t', String(seconds), '-J']);
    return (JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e6;
  } finally {
    srv.kill();
  }
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
