// What batched TUN reads buy, counted rather than timed: two vxroute nodes over the lab's underlay
// (veths with a NIC's transmit offloads), 64-byte UDP sent from a pod as fast as iperf3 can, and
// the sending daemon traced with `strace -c -f` for the run. Per reader (--tun-reads uring, readv):
// the TUN read syscalls (read, readv, io_uring_enter) and all syscalls per packet read from the
// TUN. strace slows the daemon, which lets more packets wait per read: the counts say how the
// readers differ, not the rate (bench/compare.ts, variant vxroute-readv, measures that).
//   npm run bench:tun-reads -- [--rounds 2] [--seconds 5]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { median } from '../src/lab/iperf.js';
import { Lab } from '../src/lab/lab.js';
import { inNs } from '../src/lab/netns.js';
import { benchFlags, whole } from './bench-options.js';

type Reader = 'uring' | 'readv';
interface Counts {
  tunPackets: number;
  tunReadCalls: number;
  allCalls: number;
}

/** Syscall name → calls, from strace -c's table. */
function parseStraceSummary(text: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    // % time, seconds, usecs/call, calls, [errors,] syscall
    if (f.length >= 5 && /^\d/.test(f[0]) && f[f.length - 1] !== 'total') calls.set(f[f.length - 1], Number(f[3]));
  }
  return calls;
}

async function measure(reader: Reader, seconds: number): Promise<Counts> {
  const lab = await Lab.create();
  try {
    const a = await lab.addNode('vxroute', 1, { txOffload: true });
    const b = await lab.addNode('vxroute', 1, { txOffload: true });
    const subnets = await lab.writeSubnets();
    const sender = await lab.startVxroute(a, subnets, ['--workers', '1', '--tun-reads', reader]);
    await lab.startVxroute(b, subnets, ['--workers', '1', '--tun-reads', reader]);
    const server = spawn('ip', ['netns', 'exec', b.pods[0].ns, 'iperf3', '-s', '-1', '-B', b.pods[0].ip], { stdio: 'ignore' });
    for (let i = 0; !(await inNs(b.pods[0].ns, 'ss', ['-Hltn', 'sport = :5201'])).includes(':5201'); i++) {
      if (i === 500) throw new Error('iperf3 server did not listen');
    }
    const before = (await sender.counters()).workers.reduce((x, w) => x + w.tun.packets, 0);
    const strace = spawn('strace', ['-c', '-f', '-p', String(sender.pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let summary = '';
    strace.stderr.on('data', (d: Buffer) => (summary += d.toString()));
    await inNs(a.pods[0].ns, 'iperf3', ['-c', b.pods[0].ip, '-u', '-b', '0', '-l', '64', '-t', String(seconds), '-J']);
    strace.kill('SIGINT');
    await once(strace, 'exit');
    server.kill();
    const after = (await sender.counters()).workers.reduce((x, w) => x + w.tun.packets, 0);
    const calls = parseStraceSummary(summary);
    const tunReadCalls = ['read', 'readv', 'io_uring_enter'].reduce((x, n) => x + (calls.get(n) ?? 0), 0);
    return { tunPackets: after - before, tunReadCalls, allCalls: [...calls.values()].reduce((x, y) => x + y, 0) };
  } finally {
    await lab.dispose();
  }
}

const { rounds, seconds } = benchFlags({
  module: import.meta.url,
  flags: {
    rounds: whole('rounds, each reader once per round', { min: 1, max: 100, default: 2 }),
    seconds: whole('length of each traced run', { min: 1, max: 3600, default: 5 }, 'S'),
  },
});
const runs: Record<Reader, Counts[]> = { uring: [], readv: [] };
for (let r = 0; r < rounds; r++) for (const reader of ['uring', 'readv'] as const) runs[reader].push(await measure(reader, seconds));
console.log(`| reader | TUN packets | TUN read syscalls per packet | all syscalls per TUN packet | (medians of ${rounds}; strace -c -f on the sending daemon, 64-byte UDP, iperf3 -b 0 -t ${seconds}) |`);
console.log('|---|---|---|---|---|');
for (const reader of ['uring', 'readv'] as const) {
  const xs = runs[reader];
  console.log(`| ${reader} | ${median(xs.map((x) => x.tunPackets))} | ${median(xs.map((x) => x.tunReadCalls / x.tunPackets)).toFixed(3)} | ${median(xs.map((x) => x.allCalls / x.tunPackets)).toFixed(3)} | |`);
}
