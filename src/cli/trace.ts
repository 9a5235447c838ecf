// `vxroute trace`: sampled packets of a running daemon with the decision taken for each, one
// line per packet (or the JSON records with --json), until --count packets or Ctrl-C.
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { ConfigError } from '../config-error.js';
import type { InnerHeaders, TraceRecord } from '../metrics/trace-decode.js';
import { daemonUrl, DaemonUnreachable, DEFAULT_ADDR, request } from './daemon-client.js';

export const TRACE_USAGE = `Usage: vxroute trace [--count N] [--peer NAME] [--drops-only] [--every K] [--addr HOST:PORT] [--json]

Prints the decoded headers of packets passing a running vxroute and what it did with each:
encapsulated to which peer, delivered to the TUN, or dropped with which reason. Sampling is
switched on in the workers only while a trace runs.

Options:
  --count N             stop after N packets (default: 20)
  --peer NAME           only packets to or from this peer node
  --drops-only          only dropped packets
  --every K             keep one packet in K of those that match (default: 1)
  --addr HOST:PORT      the daemon's --metrics-addr (default: ${DEFAULT_ADDR})
  --json                one JSON record per line
  -h, --help            show this help
`;

const ICMP_NAMES: Record<number, string> = { 0: 'echo-reply', 3: 'unreachable', 8: 'echo-request', 11: 'time-exceeded' };
const ICMPV6_NAMES: Record<number, string> = { 1: 'unreachable', 2: 'too-big', 128: 'echo-request', 129: 'echo-reply', 135: 'neighbor-solicit', 136: 'neighbor-advert' };
const PROTOCOLS: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 58: 'ICMPv6' };

export async function traceCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv, strict: true, allowPositionals: false,
      options: {
        count: { type: 'string', default: '20' }, peer: { type: 'string' }, 'drops-only': { type: 'boolean', default: false },
        every: { type: 'string', default: '1' }, addr: { type: 'string', default: DEFAULT_ADDR }, json: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    throw new ConfigError('arguments', `${(err as Error).message} (see vxroute trace --help)`, { cause: err });
  }
  const base = daemonUrl(values.addr!);
  for (const flag of ['count', 'every'] as const) {
    if (!/^\d+$/.test(values[flag]!) || Number(values[flag]) < 1) throw new ConfigError(`--${flag}`, `"${values[flag]}" must be a whole number of at least 1`);
  }
  const query = new URLSearchParams({ count: values.count!, every: values.every! });
  if (values.peer !== undefined) query.set('peer', values.peer);
  if (values['drops-only']) query.set('drops', '1');

  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  try {
    const res = await request(base, `/debug/trace?${query}`, stop.signal);
    const lines = createInterface({ input: Readable.fromWeb(res.body! as never) });
    for await (const line of lines) {
      const record = JSON.parse(line) as TraceRecord | { lost: number };
      if (values.json) process.stdout.write(`${line}\n`);
      else process.stdout.write(`${'lost' in record ? `(${record.lost} packets not shown: the trace could not keep up; try --every)` : formatRecord(record)}\n`);
    }
    return 0;
  } catch (err) {
    if (stop.signal.aborted) return 0;
    if (err instanceof DaemonUnreachable) {
      process.stderr.write(`vxroute trace: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
  }
}

/** One line: time, direction and peer, verdict, then the headers. */
export function formatRecord(r: TraceRecord): string {
  const arrow = r.direction === 'to-peer' ? '→' : '←';
  // A flood goes to every peer: no one peer to name.
  const verdict = (r.verdict === 'dropped' ? `dropped ${r.reason}` : r.verdict) + (r.policy !== undefined ? ` policy ${r.policyName ?? `#${r.policy}`}` : '');
  const parts = [r.time.slice(11, 23), `w${r.worker}`, `${arrow} ${r.peer ?? (r.frame && r.verdict === 'encapsulated' ? 'all' : '-')}`.padEnd(10), verdict.padEnd(20)];
  if (r.outer) {
    parts.push(`from ${r.outer.src} VNI ${r.outer.vni}${r.outer.flags !== 0x08 ? ` flags 0x${r.outer.flags.toString(16)}` : ''} ${r.outer.innerSrcMac} > ${r.outer.innerDstMac}`);
  }
  if (r.frame) parts.push(`${r.frame.srcMac} > ${r.frame.dstMac}${r.inner ? '' : ` ethertype 0x${r.frame.etherType.toString(16).padStart(4, '0')}`}`);
  parts.push(r.inner ? inner(r.inner) : `${r.length} bytes`);
  if (r.segments !== undefined) parts.push(`(first of ${r.segments} segments, kept whole)`);
  return parts.join('  ');
}

function inner(h: InnerHeaders): string {
  const proto = PROTOCOLS[h.protocol] ?? `proto ${h.protocol}`;
  const ports = h.srcPort !== undefined ? ` ${h.srcPort} > ${h.dstPort}` : '';
  const flags = h.tcpFlags ? ` [${h.tcpFlags}]` : '';
  const icmp = h.icmpType !== undefined ? ` ${(h.protocol === 58 ? ICMPV6_NAMES : ICMP_NAMES)[h.icmpType] ?? `type ${h.icmpType}`}` : '';
  return `${h.src} > ${h.dst} ${proto}${icmp}${ports}${flags} len ${h.length} ttl ${h.ttl}`;
}
