// `vxroute demo`: a throwaway two-node cluster in network namespaces on this machine. Node n1
// runs vxroute, node n2 runs the kernel's VXLAN device as flannel configures it; a pod behind
// each pings and streams TCP to the other while vxroute's counters are shown live. It lives with
// the test bed it drives and, like it, is left out of the image (src/cli/main.ts loads it by path).
import { parseArgs } from 'node:util';
import { ConfigError } from '../config-error.js';
import { Lab } from './lab.js';
import { ping, tcpTransfer } from './traffic.js';
import type { VxrouteProcess } from './vxroute-process.js';
import type { CounterSnapshot } from '../datapath/counter-snapshot.js';

export const DEMO_USAGE = `Usage: vxroute demo [--mib N] [--workers N]

Builds network namespaces on this machine (needs root): an underlay 192.0.2.0/24, node n1 running
vxroute and node n2 running the kernel's VXLAN device set up exactly as flannel's vxlan backend
does, and a pod behind each (10.244.1.2 and 10.244.2.2). Shows ping and a TCP transfer working
both ways with vxroute's live counters, then removes everything it created.

Options:
  --mib N        size of each TCP transfer in MiB (default: 64)
  --workers N    vxroute datapath shards (default: vxroute's own default)
  -h, --help     show this help
`;

export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { mib: { type: 'string', default: '64' }, workers: { type: 'string' } } });
  const mib = Number(values.mib);
  if (!Number.isInteger(mib) || mib < 1 || mib > 4096) throw new ConfigError('--mib', `"${values.mib}" must be an integer from 1 to 4096`);
  const runArgs = values.workers === undefined ? [] : ['--workers', values.workers];

  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  const lab = await Lab.create();
  const abort = (): void => {
    void lab.dispose().finally(() => process.exit(130));
  };
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  let failures = 0;
  const check = (ok: boolean, what: string): void => {
    say(`  ${ok ? 'ok  ' : 'FAIL'} ${what}`);
    if (!ok) failures++;
  };

  try {
    say(`Building namespaces ${lab.id}-*`);
    const ours = await lab.addNode('vxroute');
    const kernel = await lab.addNode('kernel');
    await lab.programKernelPeers();
    say(`  n1  underlay ${ours.publicIP}, pods ${ours.podCIDR}, vxroute on TUN vxroute0, VTEP MAC ${ours.vtepMAC}`);
    say(`  n2  underlay ${kernel.publicIP}, pods ${kernel.podCIDR}, kernel VXLAN flannel.1 (id 1, dstport 8472, nolearning), VTEP MAC ${kernel.vtepMAC}`);
    const daemon = await lab.startVxroute(ours, await lab.writeSubnets(), runArgs);
    const ready = daemon.logs.find((l) => l.msg === 'ready');
    say(`vxroute is ready in n1: ${ready?.workers} workers, MTU ${ready?.mtu}, UDP port ${ready?.port}, VNI ${ready?.vni}`);

    say('\nping, 10 each way');
    for (const [from, to] of [[ours, kernel], [kernel, ours]] as const) {
      const r = await ping(from.pods[0].ns, to.pods[0].ip, 10, 0.05);
      check(r.received === r.transmitted, `${from.pods[0].ip} → ${to.pods[0].ip}: ${r.received}/${r.transmitted} replies, rtt avg ${r.rttAvg} ms`);
    }

    say(`\nTCP, ${mib} MiB each way (live counters of vxroute in n1)`);
    for (const [from, to] of [[ours, kernel], [kernel, ours]] as const) {
      const r = await withLiveCounters(daemon, () => tcpTransfer(to.pods[0].ns, to.pods[0].ip, from.pods[0].ns, mib << 20));
      check(
        r.receivedBytes === mib << 20 && r.receivedSha256 === r.sentSha256,
        `${from.pods[0].ip} → ${to.pods[0].ip}: ${r.receivedBytes} bytes at ${r.mbitPerS.toFixed(0)} Mbit/s, sha256 ${r.receivedSha256.slice(0, 16)}… ${r.receivedSha256 === r.sentSha256 ? 'matches' : 'DIFFERS'}`,
      );
    }

    say('\nvxroute counters in n1 (GET /debug/counters)');
    printCounters(await daemon.counters(), say);
    const exit = await daemon.stop();
    check(exit.code === 0, `vxroute stopped on SIGTERM (exit code ${exit.code})`);
  } finally {
    process.off('SIGINT', abort);
    process.off('SIGTERM', abort);
    await lab.dispose();
    say(`\nRemoved namespaces ${lab.id}-*`);
  }
  say(failures === 0 ? 'Demo passed.' : `Demo FAILED: ${failures} check(s).`);
  return failures === 0 ? 0 : 1;
}

/** Runs `work` while printing vxroute's per-peer rates twice a second. */
async function withLiveCounters<T>(daemon: VxrouteProcess, work: () => Promise<T>): Promise<T> {
  const tty = process.stdout.isTTY === true;
  let last = await daemon.counters();
  let lastAt = performance.now();
  let running = true;
  const ticker = (async () => {
    while (running) {
      await new Promise((r) => setTimeout(r, 500));
      if (!running) break;
      const now = await daemon.counters();
      const at = performance.now();
      const secs = (at - lastAt) / 1000;
      const line = now.peers
        .map((p) => {
          const was = last.peers.find((q) => q.name === p.name) ?? p;
          const rate = (d: number): string => (d / secs).toFixed(0).padStart(6);
          return `peer ${p.name}: tx ${rate(p.txPackets - was.txPackets)} pkt/s ${mbit(p.txBytes - was.txBytes, secs)}  rx ${rate(p.rxPackets - was.rxPackets)} pkt/s ${mbit(p.rxBytes - was.rxBytes, secs)}`;
        })
        .join('  ');
      process.stdout.write(tty ? `\r    ${line}` : `    ${line}\n`);
      last = now;
      lastAt = at;
    }
  })();
  try {
    return await work();
  } finally {
    running = false;
    await ticker;
    if (tty) process.stdout.write('\n');
  }
}

function mbit(bytes: number, secs: number): string {
  return `${((bytes * 8) / secs / 1e6).toFixed(1).padStart(7)} Mbit/s`;
}

function printCounters(c: CounterSnapshot, say: (line: string) => void): void {
  for (const p of c.peers) {
    say(`  peer ${p.name}: tx ${p.txPackets} packets / ${p.txBytes} bytes, rx ${p.rxPackets} packets / ${p.rxBytes} bytes`);
  }
  const drops = Object.entries(c.drops).filter(([, n]) => n > 0);
  say(`  drops: ${drops.length === 0 ? 'none' : drops.map(([r, n]) => `${r} ${n}`).join(', ')}`);
  say(`  workers: ${c.workers.map((w) => `#${w.index} ${w.tun.batches} TUN + ${w.udp.batches} UDP batches`).join(', ')}`);
}
