// Spike of issue 16: does a TSO packet written as ONE UDP-tunnel GSO packet into an egress TAP
// (bench/tunnel-gso-send.c) reach a kernel VXLAN node intact, and what does it cost? Three nodes
// with a NIC's transmit offloads: n1 and n2 run flannel's kernel VXLAN, n3 runs the spike in
// place of vxroute, n4 runs vxroute as it is (`--workers 1`). Interleaved rounds per pod family:
// one TCP stream to n2's pod from n1's (the kernel path), n3's (the spike) and n4's (vxroute).
// Reported per round: Mbit/s, the CPU seconds per Gbit of the iperf3 client and server, and of the
// overlay process (the spike, or the vxroute daemon), and the spike's counters. Then, per family,
// 32 MiB of random bytes from n3's pod through the spike to n2's (kernel) and n4's (vxroute) pod,
// their SHA-256 compared.
//   npm run bench:tunnel-gso -- [--rounds 3] [--seconds 4] [--families 4,6]
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { iperfJson, listening } from '../src/lab/iperf.js';
import { Lab, type Family, type LabNode } from '../src/lab/lab.js';
import { inNs } from '../src/lab/netns.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';
import { cpuTicks, TICK_S } from './bulk-cpu.js';
import { benchFlags, someOf, whole } from './bench-options.js';

const SOURCE = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../bench/tunnel-gso-send.c' : './tunnel-gso-send.c', import.meta.url));
const POD_TUN = 'vxr0';
const EGRESS_TAP = 'vxegress';
const INTACT_BYTES = 32 << 20;

interface SpikeCounters {
  tsoWrites: number;
  tsoBytes: number;
  plainWrites: number;
  writeErrors: number;
  lastErrno: number;
  tooLong: number;
  decapsulated: number;
  bytes: number;
  cpuUser: number;
  cpuSystem: number;
}

interface CpuReport {
  end: { cpu_utilization_percent: { host_total: number; remote_total: number } };
}

/** Starts the spike in `node` toward `peer` and routes `peer`'s pods through it. */
async function startSpike(binary: string, node: LabNode, peer: LabNode): Promise<{ child: ChildProcess; offloadErrno: number; lines: AsyncIterator<string> }> {
  const child = spawn('ip', ['netns', 'exec', node.ns, binary, POD_TUN, EGRESS_TAP, node.publicIP, peer.publicIP, node.publicIPv6, peer.publicIPv6,
    peer.vtepMAC, peer.vtepMACv6, node.vtepMAC, node.vtepMACv6], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    return await configure(child, node, peer);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
}

async function configure(child: ChildProcess, node: LabNode, peer: LabNode): Promise<{ child: ChildProcess; offloadErrno: number; lines: AsyncIterator<string> }> {
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const first = (await lines.next()).value as string | undefined;
  const m = /^ready (\d+)$/.exec(first ?? '');
  if (!m) throw new Error(`spike in ${node.ns} did not start: ${String(first)}`);
  await inNs(node.ns, 'ip', ['link', 'set', POD_TUN, 'mtu', '1450', 'up']);
  await inNs(node.ns, 'ip', ['link', 'set', EGRESS_TAP, 'up']);
  // A frame "received" on the TAP comes from our own underlay address: a martian unless the TAP
  // accepts local sources, and the reverse path (via eth0) is not the TAP.
  await inNs(node.ns, 'sysctl', ['-qw', `net.ipv4.conf.${EGRESS_TAP}.accept_local=1`, `net.ipv4.conf.${EGRESS_TAP}.rp_filter=0`, 'net.ipv4.conf.all.rp_filter=0']);
  await inNs(node.ns, 'ip', ['route', 'replace', peer.podCIDR, 'dev', POD_TUN]);
  // The IPv6 underlay's headers are 20 bytes longer: the route says so, so that a pod's segments
  // still fit the underlay's 1,500 bytes (as flannel-v6.1's MTU of 1,430 does on a kernel node).
  await inNs(node.ns, 'ip', ['-6', 'route', 'replace', peer.podCIDRv6, 'dev', POD_TUN, 'mtu', '1430']);
  return { child, offloadErrno: Number(m[1]), lines };
}

async function stopSpike(s: { child: ChildProcess; lines: AsyncIterator<string> }): Promise<SpikeCounters> {
  const exited = once(s.child, 'exit');
  s.child.kill('SIGTERM');
  const line = (await s.lines.next()).value as string | undefined;
  await exited; // its devices go with it
  return JSON.parse(line ?? '{}') as SpikeCounters;
}

/** Messages the daemon received whole and cut into several datagrams (UDP GRO, or a tunnel-GSO packet). */
async function messagesCut(daemon: VxrouteProcess): Promise<number> {
  return (await daemon.counters()).udp.reduce((a, f) => a + f.groBuffers, 0);
}

const TUNNEL_GSO_COMMAND = {
  module: import.meta.url,
  flags: {
    rounds: whole('interleaved rounds', { min: 1, max: 100, default: 3 }),
    seconds: whole('length of each TCP stream', { min: 1, max: 3600, default: 4 }, 'S'),
    families: someOf('the pod families measured', ['4', '6'], ['4', '6']),
  },
};

export async function tunnelGsoBench(argv: string[]): Promise<number> {
  const values = benchFlags(TUNNEL_GSO_COMMAND, argv);
  const families = values.families.map(Number) as Family[];
  const dir = await mkdtemp(join(tmpdir(), 'vxroute-tunnel-gso-'));
  const lab = await Lab.create({ underlay: [4, 6], pods: [4, 6] });
  try {
    const binary = join(dir, 'tunnel-gso-send');
    await promisify(execFile)('cc', ['-O2', '-Wall', '-o', binary, SOURCE]);
    const n1 = await lab.addNode('kernel', 1, { txOffload: true });
    const n2 = await lab.addNode('kernel', 1, { txOffload: true });
    const n3 = await lab.addNode('vxroute', 1, { txOffload: true });
    const n4 = await lab.addNode('vxroute', 1, { txOffload: true });
    await lab.programKernelPeers();
    const daemon = await lab.startVxroute(n4, await lab.writeSubnets([n2, n3, n4]), ['--workers', '1']);
    await lab.ipv6Settled();
    console.error(`load average ${loadavg()[0].toFixed(1)}`);
    const rows: string[] = [];
    for (let r = 0; r < values.rounds; r++) {
      for (const family of families) {
        const server = { ns: n2.pods[0].ns, ip: family === 4 ? n2.pods[0].ip : n2.pods[0].ip6 };
        const variants = ['kernel', 'spike', 'vxroute'];
        for (const variant of r % 2 === 0 ? variants : [...variants].reverse()) {
          const client = variant === 'kernel' ? n1 : variant === 'spike' ? n3 : n4;
          const spike = variant === 'spike' ? await startSpike(binary, n3, n2) : undefined;
          try {
            const ticks0 = await cpuTicks([daemon.pid]);
            const report = (await iperfJson(server, client.pods[0].ns, ['-t', String(values.seconds)])) as Awaited<ReturnType<typeof iperfJson>> & CpuReport;
            const ticks1 = await cpuTicks([daemon.pid]);
            const counters = spike ? await stopSpike(spike) : undefined;
            const seconds = report.end.sum_received.seconds;
            const gbit = (report.end.sum_received.bytes * 8) / 1e9;
            const iperfCpu = ((report.end.cpu_utilization_percent.host_total + report.end.cpu_utilization_percent.remote_total) / 100) * seconds;
            const overlayCpu = counters ? counters.cpuUser + counters.cpuSystem : variant === 'vxroute' ? (ticks1.user + ticks1.system - ticks0.user - ticks0.system) * TICK_S : 0;
            rows.push(`| ${r + 1} | IPv${family} | ${variant} | ${((gbit * 1e3) / seconds).toFixed(0)} | ${(iperfCpu / gbit).toFixed(3)} | ${variant === 'kernel' ? '—' : (overlayCpu / gbit).toFixed(3)} | ${((iperfCpu + overlayCpu) / gbit).toFixed(3)} | ${loadavg()[0].toFixed(1)} |`);
            if (counters) console.error(`round ${r + 1} IPv${family} spike: TUNSETOFFLOAD errno ${spike!.offloadErrno}, ${JSON.stringify(counters)}`);
            console.error(rows[rows.length - 1]);
          } finally {
            if (spike && spike.child.exitCode === null) spike.child.kill('SIGKILL');
          }
        }
      }
    }
    for (const [family, peer] of families.flatMap((f) => [[f, n2], [f, n4]] as const)) {
      const spike = await startSpike(binary, n3, peer);
      try {
        const server = family === 4 ? peer.pods[0].ip : `[${peer.pods[0].ip6}]`;
        const cut0 = peer === n4 ? await messagesCut(daemon) : 0;
        const receiver = inNs(peer.pods[0].ns, 'bash', ['-c', `socat -u TCP${family}-LISTEN:5300,reuseaddr - | sha256sum`]);
        await listening(peer.pods[0].ns, 5300);
        const sent = await inNs(n3.pods[0].ns, 'bash', ['-c', `head -c ${INTACT_BYTES} /dev/urandom | tee >(socat -u - TCP${family}:${server}:5300) | sha256sum`]);
        const received = await receiver;
        const counters = await stopSpike(spike);
        const verdict = sent.split(' ')[0] === received.split(' ')[0] ? 'intact' : `CHANGED (sent ${sent.split(' ')[0]}, received ${received.split(' ')[0]})`;
        const cut = peer === n4 ? `; the vxroute peer cut ${(await messagesCut(daemon)) - cut0} received messages into several datagrams` : '';
        console.log(`IPv${family}: ${INTACT_BYTES} random bytes pod → ${peer.kind} pod through the spike: ${verdict}; ${counters.tsoWrites} tunnel-GSO writes, ${counters.plainWrites} plain, ${counters.writeErrors} failed${cut}`);
      } finally {
        if (spike.child.exitCode === null) spike.child.kill('SIGKILL');
      }
    }
    console.log('| round | pods | path | Mbit/s | iperf3 CPU s/Gbit | overlay process CPU s/Gbit | total s/Gbit | load |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const row of rows) console.log(row);
    return 0;
  } finally {
    await lab.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await tunnelGsoBench(process.argv.slice(2));
}
