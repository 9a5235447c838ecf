// `vxroute top`: the live view of a running daemon. On a terminal it redraws every interval until
// q or Ctrl-C; otherwise it takes two samples one interval apart and prints one snapshot (text,
// or JSON with --json).
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { ConfigError } from '../config-error.js';
import type { CounterSnapshot } from '../datapath/counter-snapshot.js';
import type { PeersView } from '../metrics/debug-peers.js';
import { daemonUrl, DaemonUnreachable, DEFAULT_ADDR, getJson } from './daemon-client.js';
import { topSample, type TopSample } from './top-sample.js';
import { renderTop } from './top-view.js';

export const TOP_USAGE = `Usage: vxroute top [--addr HOST:PORT] [--interval SECONDS] [--json]

Live per-peer packet and bit rates, drops per second by reason, and worker balance of a running
vxroute, busiest peers first. Quit with q or Ctrl-C. When stdout is not a terminal, prints one
snapshot taken over one interval.

Options:
  --addr HOST:PORT      the daemon's --metrics-addr (default: ${DEFAULT_ADDR}); works through
                        kubectl -n vxroute port-forward POD 9475
  --interval SECONDS    refresh period and rate window (default: 1)
  --json                print one snapshot as JSON and exit
  -h, --help            show this help
`;

interface Sampler {
  (): Promise<{ node: string; tableVersion: number; counters: CounterSnapshot }>;
}

export async function topCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, strict: true, allowPositionals: false, options: { addr: { type: 'string', default: DEFAULT_ADDR }, interval: { type: 'string', default: '1' }, json: { type: 'boolean', default: false } } }));
  } catch (err) {
    throw new ConfigError('arguments', `${(err as Error).message} (see vxroute top --help)`, { cause: err });
  }
  const base = daemonUrl(values.addr!);
  const interval = Number(values.interval);
  if (!(interval >= 0.1 && interval <= 3600)) throw new ConfigError('--interval', `"${values.interval}" must be a number of seconds from 0.1 to 3600`);
  const sample: Sampler = async () => {
    const [peers, counters] = await Promise.all([getJson<PeersView>(base, '/debug/peers'), getJson<CounterSnapshot>(base, '/debug/counters')]);
    return { node: peers.self?.name ?? '?', tableVersion: peers.tableVersion, counters };
  };
  try {
    if (values.json || !process.stdout.isTTY || !process.stdin.isTTY) {
      const s = await once(sample, interval);
      process.stdout.write(values.json ? `${JSON.stringify(s, null, 2)}\n` : `${renderTop(s, base.host).join('\n')}\n`);
      return 0;
    }
    return await live(sample, interval, base.host);
  } catch (err) {
    if (err instanceof DaemonUnreachable) {
      process.stderr.write(`vxroute top: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

async function once(sample: Sampler, interval: number): Promise<TopSample> {
  const before = await sample();
  await sleep(interval * 1000);
  const now = await sample();
  return topSample(now.node, now.tableVersion, before.counters, now.counters);
}

async function live(sample: Sampler, interval: number, source: string): Promise<number> {
  const out = process.stdout;
  const stop = new AbortController();
  const onKey = (key: Buffer): void => {
    if (key[0] === 0x71 || key[0] === 0x51 || key[0] === 0x03) stop.abort(); // q, Q, Ctrl-C
  };
  const onSignal = (): void => stop.abort();
  process.stdin.setRawMode(true).resume().on('data', onKey);
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  out.write('\x1b[?1049h\x1b[?25l'); // alternate screen, no cursor
  try {
    let before: CounterSnapshot | undefined;
    while (!stop.signal.aborted) {
      let screen: string[];
      try {
        const now = await sample();
        screen = before ? renderTop(topSample(now.node, now.tableVersion, before, now.counters), source, Math.max(1, (out.rows ?? 24) - 12)) : [`vxroute top · ${now.node} · ${source} · measuring…`];
        before = now.counters;
      } catch (err) {
        if (!(err instanceof DaemonUnreachable)) throw err;
        screen = [`vxroute top · ${source}`, '', err.message, '', 'retrying every interval…'];
        before = undefined;
      }
      out.write(`\x1b[H\x1b[2J${screen.join('\n')}\n\nq: quit`);
      await sleep(interval * 1000, undefined, { signal: stop.signal }).catch(() => undefined);
    }
    return 0;
  } finally {
    out.write('\x1b[?25h\x1b[?1049l');
    process.stdin.off('data', onKey).setRawMode(false).pause();
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
}
