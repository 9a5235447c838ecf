// 1-byte TCP transactions per second between two pods (netperf's TCP_RR), and the time to open a
// new connection (connect(): the first packet of a flow and its answer), with bench/tcp-rr.c built
// once per run into a scratch directory.
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { inNs } from '../src/lab/netns.js';

const execFileAsync = promisify(execFile);
/** From dist/bench/ and from bench/ alike: the C source stays in the source tree. */
const SOURCE = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../bench/tcp-rr.c' : './tcp-rr.c', import.meta.url));
export const TRANSACTIONS_PORT = '5301';
/** The port new connections are opened to: what a NetworkPolicy must allow (src/lab/policy-world.ts). */
export const CONNECT_PORT = '5302';

export interface TcpRrResult {
  transactionsPerS: number;
  p50Us: number;
  p99Us: number;
}

/** Compiles the tool into `dir` and returns its path. */
export async function buildTcpRr(dir: string): Promise<string> {
  const binary = join(dir, 'tcp-rr');
  await execFileAsync('cc', ['-O2', '-Wall', '-o', binary, SOURCE]);
  return binary;
}

/** Runs `seconds` of transactions from the client's namespace to a server at `server.ip`. */
export async function tcpRr(binary: string, server: { ns: string; ip: string }, clientNs: string, seconds: number): Promise<TcpRrResult> {
  const srv = spawn('ip', ['netns', 'exec', server.ns, binary, 'server', server.ip, TRANSACTIONS_PORT], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const first = await createInterface({ input: srv.stdout! })[Symbol.asyncIterator]().next();
    if (first.value !== 'listening') throw new Error(`tcp-rr server in ${server.ns} did not start: ${String(first.value)}`);
    const r = JSON.parse(await inNs(clientNs, binary, ['client', server.ip, TRANSACTIONS_PORT, String(seconds)])) as { transactions: number; seconds: number; p50Us: number; p99Us: number };
    return { transactionsPerS: r.transactions / r.seconds, p50Us: r.p50Us, p99Us: r.p99Us };
  } finally {
    srv.kill('SIGKILL');
  }
}

export interface ConnectResult {
  connects: number;
  p50Us: number;
  p99Us: number;
}

/** Opens `count` TCP connections one after the other from the client's namespace (new source port each) and times each connect(). */
export async function tcpConnects(binary: string, server: { ns: string; ip: string }, clientNs: string, count: number): Promise<ConnectResult> {
  const srv = spawn('ip', ['netns', 'exec', server.ns, binary, 'accept-server', server.ip, CONNECT_PORT], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const first = await createInterface({ input: srv.stdout! })[Symbol.asyncIterator]().next();
    if (first.value !== 'listening') throw new Error(`tcp-rr accept-server in ${server.ns} did not start: ${String(first.value)}`);
    return JSON.parse(await inNs(clientNs, binary, ['connect-client', server.ip, CONNECT_PORT, String(count)])) as ConnectResult;
  } finally {
    srv.kill('SIGKILL');
  }
}
