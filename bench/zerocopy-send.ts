// Does MSG_ZEROCOPY pay for the sending path's UDP GSO messages? bench/zerocopy-send.c sends runs
// as sendBatch plans them (SEGMENTS datagrams of SIZE bytes per message, BATCH messages per
// sendmmsg) across the lab's underlay (two node namespaces, veths with a NIC's transmit offloads)
// to a receiver with UDP_GRO, with a copy and with MSG_ZEROCOPY in interleaved rounds; zero-copy
// buffers are held until their completion is read. Reported per variant (medians): Gbit/s sent,
// the sender's CPU seconds per GB, and the share of zero-copy sends the kernel copied anyway.
//   npm run bench:zerocopy -- [--rounds 5] [--seconds 3] [--size 1400] [--segments 46] [--batch 8] [--ring 4]
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { median } from '../src/lab/iperf.js';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { inNs } from '../src/lab/netns.js';
import { benchFlags, whole } from './bench-options.js';

const SOURCE = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../bench/zerocopy-send.c' : './zerocopy-send.c', import.meta.url));
const PORT = '9472';
type Variant = 'copy' | 'zerocopy';

interface Sent {
  bytes: number;
  seconds: number;
  cpuSeconds: number;
  calls: number;
  completedCalls: number;
  copiedCalls: number;
  enobufs: number;
}

interface Figures {
  gbitSent: number;
  gbitReceived: number;
  cpuSecondsPerGB: number;
  /** Of the zero-copy sends completed, the share the kernel reported as copied (NaN for copy). */
  copiedShare: number;
  enobufs: number;
}

async function round(binary: string, from: LabNode, to: LabNode, variant: Variant, seconds: number, shape: string[]): Promise<Figures> {
  const receiver = spawn('ip', ['netns', 'exec', to.ns, binary, 'recv', to.publicIP, PORT, String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const lines = createInterface({ input: receiver.stdout! })[Symbol.asyncIterator]();
    const first = await lines.next();
    if (first.value !== 'listening') throw new Error(`receiver in ${to.ns} did not start: ${String(first.value)}`);
    const sent = JSON.parse(await inNs(from.ns, binary, ['send', to.publicIP, PORT, String(seconds), variant, ...shape])) as Sent;
    const received = JSON.parse((await lines.next()).value as string) as { bytes: number };
    return {
      gbitSent: (sent.bytes * 8) / sent.seconds / 1e9,
      gbitReceived: (received.bytes * 8) / sent.seconds / 1e9,
      cpuSecondsPerGB: sent.cpuSeconds / (sent.bytes / 1e9),
      copiedShare: variant === 'zerocopy' ? sent.copiedCalls / Math.max(1, sent.completedCalls) : NaN,
      enobufs: sent.enobufs,
    };
  } finally {
    receiver.kill('SIGKILL');
  }
}

const ZEROCOPY_COMMAND = {
  module: import.meta.url,
  flags: {
    rounds: whole('interleaved rounds', { min: 1, max: 100, default: 5 }),
    seconds: whole('length of each sending run', { min: 1, max: 3600, default: 3 }, 'S'),
    size: whole('bytes per datagram (SIZE × SEGMENTS is one UDP message: at most 65,507)', { min: 1, max: 1472, default: 1400 }),
    segments: whole('datagrams per GSO message (the kernel takes at most 64)', { min: 1, max: 64, default: 46 }),
    batch: whole('messages per sendmmsg', { min: 1, max: 1024, default: 8 }),
    ring: whole('batches of buffers in turn: a zero-copy batch is reused once its completion is read', { min: 2, max: 1024, default: 4 }),
  },
};

export async function zerocopyBench(argv: string[]): Promise<number> {
  const values = benchFlags(ZEROCOPY_COMMAND, argv);
  const dir = await mkdtemp(join(tmpdir(), 'vxroute-zerocopy-'));
  const lab = await Lab.create();
  try {
    const binary = join(dir, 'zerocopy-send');
    await promisify(execFile)('cc', ['-O2', '-Wall', '-o', binary, SOURCE]);
    const a = await lab.addNode('kernel', 1, { txOffload: true });
    const b = await lab.addNode('kernel', 1, { txOffload: true });
    const shape = [values.size, values.segments, values.batch, values.ring].map(String);
    const variants: Variant[] = ['copy', 'zerocopy'];
    const results = new Map<Variant, Figures[]>(variants.map((v) => [v, []]));
    for (let r = 0; r < values.rounds; r++) {
      for (const v of r % 2 === 0 ? variants : [...variants].reverse()) {
        const f = await round(binary, a, b, v, values.seconds, shape);
        results.get(v)!.push(f);
        console.error(`round ${r + 1} ${v}: ${JSON.stringify(f)}`);
      }
    }
    const med = (v: Variant, k: keyof Figures): number => median(results.get(v)!.map((f) => f[k]));
    console.log(`| variant | Gbit/s sent | Gbit/s received | sender CPU s per GB | × copy | zero-copy sends copied by the kernel |`);
    console.log(`|---|---|---|---|---|---|`);
    for (const v of variants) {
      const copied = med(v, 'copiedShare');
      console.log(`| ${v} | ${med(v, 'gbitSent').toFixed(2)} | ${med(v, 'gbitReceived').toFixed(2)} | ${med(v, 'cpuSecondsPerGB').toFixed(3)} | ${(med(v, 'cpuSecondsPerGB') / med('copy', 'cpuSecondsPerGB')).toFixed(2)} | ${Number.isNaN(copied) ? '—' : `${(copied * 100).toFixed(1)} %`} |`);
    }
    console.log(JSON.stringify({ shape: { size: values.size, segments: values.segments, batch: values.batch, ring: values.ring }, runs: Object.fromEntries(results) }));
    return 0;
  } finally {
    await lab.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await zerocopyBench(process.argv.slice(2));
}
