// iperf3 between two pods, for the benchmarks and the tests that need a measured stream.
import { spawn } from 'node:child_process';
import { inNs, tryInNs } from './netns.js';
import type { Pod } from './lab.js';

const IPERF_PORT = 5201;

/** Waits until something in `ns` listens on TCP `port` (a server just spawned there). */
export async function listening(ns: string, port: number): Promise<void> {
  for (let tries = 0; !(await inNs(ns, 'ss', ['-Hltn', `sport = :${port}`])).includes(`:${port}`); tries++) {
    if (tries === 500) throw new Error(`nothing listens on TCP ${port} in ${ns}`);
  }
}

/** iperf3's JSON report of a finished run: what the benches read of it. */
export interface IperfReport {
  end: {
    sum_sent: { packets: number; seconds: number; bits_per_second: number };
    sum_received: { packets: number; lost_packets: number; seconds: number; bytes: number; bits_per_second: number };
    streams: { receiver: { bytes: number } }[];
  };
}

const TRIES = 3;

function parsedReport(stdout: string): Partial<IperfReport> & { error?: string } {
  try {
    return JSON.parse(stdout) as Partial<IperfReport> & { error?: string };
  } catch {
    return {};
  }
}

/**
 * One iperf3 run, client pod → `server` (at its `ip`, either family). On a loaded machine iperf3
 * now and then ends without its totals (a control connection that timed out): such a run is
 * repeated, said on stderr, up to TRIES times.
 */
export async function iperfJson(server: Pick<Pod, 'ns' | 'ip'>, clientNs: string, args: string[], port = IPERF_PORT): Promise<IperfReport> {
  for (let attempt = 1; ; attempt++) {
    const srv = spawn('ip', ['netns', 'exec', server.ns, 'iperf3', '-s', '-1', '-B', server.ip, '-p', String(port)], { stdio: 'ignore' });
    try {
      await listening(server.ns, port);
      const run = await tryInNs(clientNs, 'iperf3', ['-c', server.ip, '-p', String(port), '-J', ...args]);
      const report = parsedReport(run.stdout);
      if (report.end?.sum_received !== undefined && report.end.sum_sent !== undefined) return report as IperfReport;
      const why = report.error ?? (run.stderr.trim() || `exit ${run.code}, no totals in its report`);
      if (attempt === TRIES) throw new Error(`iperf3 ${args.join(' ')} to ${server.ip} failed ${TRIES} times: ${why}`);
      process.stderr.write(`iperf3 ${args.join(' ')} to ${server.ip}: ${why}; running it again\n`);
    } finally {
      srv.kill();
    }
  }
}

/** Mbit/s received by `server` from `client` over `seconds` of one TCP stream. */
export async function iperf(server: Pick<Pod, 'ns' | 'ip'>, client: Pick<Pod, 'ns'>, seconds: number): Promise<number> {
  return (await iperfJson(server, client.ns, ['-t', String(seconds)])).end.sum_received.bits_per_second / 1e6;
}

/** The median; of an even count, the mean of the middle two. */
export function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
