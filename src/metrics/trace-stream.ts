// /debug/trace: one trace session at a time. It switches sampling on in the workers, drains
// their rings every few milliseconds, and streams each decoded packet as a line of JSON until
// it has sent `count` of them or the client goes away; then sampling is off again.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DatapathView } from './datapath-view.js';
import { decodeEntry } from './trace-decode.js';

const DRAIN_MS = 20;
const MAX_COUNT = 10_000_000;

export function streamTrace(d: DatapathView, url: URL, req: IncomingMessage, res: ServerResponse): void {
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
  d.trace.start({ dropsOnly: url.searchParams.get('drops') === '1', peer: peer as number, every: every as number });
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  res.flushHeaders();
  const timer = setInterval(() => {
    for (const e of d.trace.drain()) {
      res.write(`${JSON.stringify(decodeEntry(e, nameOf, d.switching))}\n`);
      if (++sent >= (count as number)) return finish();
    }
  }, DRAIN_MS);
  const finish = (): void => {
    clearInterval(timer);
    if (d.trace.active) d.trace.stop();
    if (d.trace.lost > 0 && !res.writableEnded) res.write(`${JSON.stringify({ lost: d.trace.lost })}\n`);
    res.end();
  };
  req.on('close', () => {
    if (!res.writableEnded) finish();
  });
}
