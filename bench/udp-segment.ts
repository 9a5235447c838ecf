// UDP sent as a pod sends it with UDP_SEGMENT (one sendmsg, many datagrams: what a TUN with USO
// hands over whole), with bench/udp-segment.c built once per run into a scratch directory; the
// receiver checks every datagram.
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { inNs } from '../src/lab/netns.js';

const execFileAsync = promisify(execFile);
/** From dist/bench/ and from bench/ alike: the C source stays in the source tree. */
const SOURCE = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../bench/udp-segment.c' : './udp-segment.c', import.meta.url));
const PORT = '5303';

export interface UdpSegmentResult {
  sent: number;
  received: number;
  /** Datagrams that arrived with the length and bytes they were sent with. */
  intact: number;
  /** From the first datagram received to the last. */
  seconds: number;
}

/** Compiles the tool into `dir` and returns its path. */
export async function buildUdpSegment(dir: string): Promise<string> {
  const binary = join(dir, 'udp-segment');
  await execFileAsync('cc', ['-O2', '-Wall', '-o', binary, SOURCE]);
  return binary;
}

/**
 * Sends datagrams of `size` bytes from `fromNs` to `to.ip`, `perSend` per sendmsg: `count` of
 * them, or as many as go in `seconds` (`{ seconds }`). The receiver ends at the last one, or
 * `windowMs` after the latest.
 */
export async function udpSegmentRun(binary: string, fromNs: string, to: { ns: string; ip: string }, size: number, perSend: number, amount: { count: number } | { seconds: number }, windowMs = 2000): Promise<UdpSegmentResult> {
  const expected = 'count' in amount ? amount.count : 0xffffffff;
  const receiver = spawn('ip', ['netns', 'exec', to.ns, binary, 'receive', to.ip, PORT, String(size), String(expected), String(windowMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const lines = createInterface({ input: receiver.stdout! })[Symbol.asyncIterator]();
    const first = await lines.next();
    if (first.value !== 'listening') throw new Error(`udp-segment receiver in ${to.ns} did not start: ${String(first.value)}`);
    const args = 'count' in amount ? ['send', to.ip, PORT, String(size), String(perSend), String(amount.count)] : ['blast', to.ip, PORT, String(size), String(perSend), String(amount.seconds)];
    const { sent } = JSON.parse(await inNs(fromNs, binary, args)) as { sent: number };
    const got = JSON.parse(String((await lines.next()).value)) as { received: number; intact: number; seconds: number };
    return { sent, ...got };
  } finally {
    receiver.kill('SIGKILL');
  }
}
