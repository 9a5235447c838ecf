// `vxroute top` as text: one screen of at most 80 columns, the busiest peers first.
import type { TopSample } from './top-sample.js';

const WIDTH = 80;

/** 1234567 → "1.23M"; small numbers as they are. */
export function si(n: number): string {
  const units = ['', 'k', 'M', 'G', 'T'];
  let i = 0;
  while (Math.abs(n) >= 999.5 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return i === 0 ? (Number.isInteger(n) ? String(n) : n.toFixed(1)) : `${n.toFixed(n < 9.995 ? 2 : n < 99.95 ? 1 : 0)}${units[i]}`;
}

function ago(iso: string | null, at: string): string {
  if (iso === null) return 'never';
  const s = Math.max(0, (Date.parse(at) - Date.parse(iso)) / 1000);
  return s < 60 ? `${s.toFixed(1)}s ago` : s < 3600 ? `${Math.floor(s / 60)}m ago` : `${Math.floor(s / 3600)}h ago`;
}

const row = (name: string, cells: string[], last: string) =>
  `${name.slice(0, 20).padEnd(20)}${cells.map((c) => c.padStart(11)).join('')}  ${last}`.slice(0, WIDTH);

/** The screen; `rows` limits how many peers are listed (the rest are summed in a line). */
export function renderTop(s: TopSample, source: string, rows = Infinity): string[] {
  const lines: string[] = [];
  const time = s.at.slice(11, 19);
  lines.push(`vxroute top · ${s.node} · ${source} · ${s.peers.length} peers · table v${s.tableVersion} · ${time}`.slice(0, WIDTH));
  lines.push('');
  lines.push(row('PEER', ['TX pkt/s', 'TX bit/s', 'RX pkt/s', 'RX bit/s'], 'LAST RX'));
  const shown = s.peers.slice(0, Math.max(0, rows));
  for (const p of shown) {
    lines.push(row(p.name, [si(p.txPacketsPerSecond), si(p.txBitsPerSecond), si(p.rxPacketsPerSecond), si(p.rxBitsPerSecond)], ago(p.lastSeen, s.at)));
  }
  if (shown.length < s.peers.length) lines.push(`… ${s.peers.length - shown.length} more peers (idle ones last)`);
  const t = s.totals;
  lines.push(row('TOTAL', [si(t.txPacketsPerSecond), si(t.txBitsPerSecond), si(t.rxPacketsPerSecond), si(t.rxBitsPerSecond)], ''));
  lines.push(row('  since start', [si(t.txPackets), `${si(t.txBytes)}B`, si(t.rxPackets), `${si(t.rxBytes)}B`], ''));
  lines.push('');
  const sw = s.switch;
  if (sw) {
    lines.push(`SWITCH   fdb ${sw.fdbSize}/${sw.fdbMax} · floods ${si(sw.floodsPerSecond)}/s · proxied ${si(sw.proxiedPerSecond)}/s`);
    lines.push(`         learned ${si(sw.learnedPerSecond)}/s · moved ${si(sw.movedPerSecond)}/s · evicted ${si(sw.evictedPerSecond)}/s`);
  }
  if (s.drops.length === 0) lines.push('DROPS    none');
  else {
    let line = 'DROPS/s ';
    for (const d of s.drops) {
      const cell = ` ${d.reason} ${si(d.perSecond)} (${si(d.total)})`;
      if (line.length + cell.length > WIDTH) {
        lines.push(line);
        line = '        ';
      }
      line += cell;
    }
    lines.push(line);
  }
  lines.push(`TUN      writes ${si(s.tun.writesPerSecond)}/s · whole TSO ${si(s.tun.wholeTsoWritesPerSecond)}/s (${si(s.tun.wholeTsoWrites)})`);
  let workers = 'WORKERS ';
  for (const w of s.workers) {
    const cell = ` #${w.index} ${(w.share * 100).toFixed(0)}% ${si(w.packetsPerSecond)} pkt/s batch ${w.meanBatch.toFixed(1)}`;
    if (workers.length + cell.length > WIDTH) {
      lines.push(workers);
      workers = '        ';
    }
    workers += cell;
  }
  lines.push(workers);
  return lines;
}
