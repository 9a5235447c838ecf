// `vxroute fdb`: the forwarding database of a daemon in switch mode — each MAC, where it lives
// (this node's bridge or a peer), how long since a frame came from it, and how many came.
import { parseArgs } from 'node:util';
import { ConfigError } from '../config-error.js';
import type { FdbRow } from '../datapath/datapath.js';
import type { FdbStats } from '../datapath/switch/fdb.js';
import { daemonUrl, DEFAULT_ADDR, getJson } from './daemon-client.js';

export const FDB_USAGE = `Usage: vxroute fdb [--addr HOST:PORT] [--json]

Prints the forwarding database of a vxroute running with --mode switch: every learned MAC,
where it lives ("local": behind this node's bridge, else the peer node), seconds since a frame
came from it, and how many frames came; sorted by MAC.

Options:
  --addr HOST:PORT      the daemon's --metrics-addr (default: ${DEFAULT_ADDR})
  --json                the daemon's /debug/fdb document as it is
  -h, --help            show this help
`;

export interface FdbView extends FdbStats {
  at: string;
  entries: FdbRow[];
}

const WHERE_WIDTH = 30;

export async function fdbCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, strict: true, allowPositionals: false, options: { addr: { type: 'string', default: DEFAULT_ADDR }, json: { type: 'boolean', default: false } } }));
  } catch (err) {
    throw new ConfigError('arguments', `${(err as Error).message} (see vxroute fdb --help)`, { cause: err });
  }
  const view = await getJson<FdbView>(daemonUrl(values.addr!), '/debug/fdb');
  process.stdout.write(values.json ? `${JSON.stringify(view, null, 2)}\n` : formatFdb(view));
  return 0;
}

/** The table in 80 columns, then one line of totals. */
export function formatFdb(view: FdbView): string {
  const lines = [`${'MAC'.padEnd(17)}  ${'WHERE'.padEnd(WHERE_WIDTH)}  ${'AGE'.padStart(8)}  ${'FRAMES'.padStart(14)}`];
  for (const e of view.entries) {
    const where = e.where.length > WHERE_WIDTH ? `${e.where.slice(0, WHERE_WIDTH - 1)}…` : e.where;
    lines.push(`${e.mac}  ${where.padEnd(WHERE_WIDTH)}  ${`${e.ageSeconds}s`.padStart(8)}  ${String(e.frames).padStart(14)}`);
  }
  lines.push(`${view.entries.length} of at most ${view.max} entries · learned ${view.learned} · moved ${view.moved} · aged ${view.aged} · evicted ${view.evicted}`);
  return `${lines.join('\n')}\n`;
}
