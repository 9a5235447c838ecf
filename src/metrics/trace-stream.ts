// /debug/trace: one trace session at a time. It switches sampling on in the workers, drains
// their rings every few milliseconds, and streams each decoded packet as a line of JSON until
// it has sent `count` of them or the client goes away; then sampling is off again. It writes only
// when the connection has room (write() back-pressure); what comes meanwhile waits in a backlog,
// and a reader whose backlog passes MAX_BACKLOG is cut off, which also frees the session.
import type { ServerResponse } from 'node:http';
import type { DatapathView } from './datapath-view.js';
import { decodeEntry } from './trace-decode.js';

const DRAIN_MS = 20;
const MAX_COUNT = 10_000_000;
/** Characters of JSON lines held for a reader that is not taking them (about 3,000 packets). */
export const MAX_BACKLOG = 1 << 20;

/** Called when a reader is cut off: its backlog (characters) and the lines it was sent. */
export type SlowReaderHandler = (backlog: number, sent: number) => void;

export function streamTrace(d: DatapathView, url: URL, res: ServerResponse, onSlowReader: SlowReaderHandler): void {
  const param = (name: string, dflt: number, max: number): number | string => {
    const text = url.searchParams.get(name);
    if (text === null) return dflt;
    const n = Number(text);
    return /^\d+$/.test(text) && n >= 1 && n <= max ? n : `${name} must be an integer from 1 to ${max}`;
  };
  const count = param('count', 20, MAX_COUNT);
  const every = param('every', 1, 1_000_000);
  const peerName = url.searchParams.get('peer');
  const peer = peerName === null ? -1 : d.peerId(peerName);
  const problem = typeof count === 'string' ? count : typeof every === 'string' ? every : peer === undefined ? `no peer node named "${peerName}" in the table` : undefined;
  if (problem !== undefined) return void res.writeHead(400, { 'content-type': 'text/plain' }).end(`${problem}\n`);
  if (d.trace.active) return void res.writeHead(409, { 'content-type': 'text/plain' }).end('another trace is running; one at a time\n');

  const names = new Map<number, string>();
  const nameOf = (id: number): string | undefined => {
    if (!names.has(id)) names.set(id, d.peerName(id) ?? `#${id}`);
    return names.get(id);
  };
  let sent = 0;
  let done = false;
  /** Lines waiting for the connection to drain; '' while it has room. */
  let backlog = '';
  let full = false;
  const deliver = (text: string): void => {
    if (full) backlog += text;
    else if (!res.write(text)) full = true;
  };
  const onDrain = (): void => {
    full = false;
    const text = backlog;
    backlog = '';
    if (text !== '') deliver(text);
  };
  d.trace.start({ dropsOnly: url.searchParams.get('drops') === '1', peer: peer as number, every: every as number });
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  res.flushHeaders();
  res.on('drain', onDrain);
  const timer = setInterval(() => {
    let text = '';
    for (const e of d.trace.drain()) {
      text += `${JSON.stringify(decodeEntry(e, nameOf, d.switching, (i) => d.policyName(i)))}\n`;
      if (++sent >= (count as number)) break;
    }
    deliver(text);
    if (backlog.length > MAX_BACKLOG) cutOff();
    else if (sent >= (count as number)) finish();
  }, DRAIN_MS);
  const stopTracing = (): void => {
    done = true;
    clearInterval(timer);
    res.off('drain', onDrain);
    if (d.trace.active) d.trace.stop();
  };
  const finish = (): void => {
    stopTracing();
    if (d.trace.lost > 0) backlog += `${JSON.stringify({ lost: d.trace.lost })}\n`;
    res.end(backlog);
  };
  const cutOff = (): void => {
    stopTracing();
    onSlowReader(backlog.length, sent);
    backlog = '';
    res.destroy();
  };
  res.on('close', () => {
    if (!done) finish(); // the client went away
  });
}
