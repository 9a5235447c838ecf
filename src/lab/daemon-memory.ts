// Where a running daemon's resident set goes, read from outside it: /proc/PID/smaps_rollup and
// smaps for the process as a whole, /metrics for the main isolate's heap by space (prom-client's
// default gauges, v8.getHeapSpaceStatistics) and each worker's heap (the workers' own reports).
import { readFile } from 'node:fs/promises';
import type { HttpAnswer } from './ns-http-client.js';

const MB = 2 ** 20;

/** Resident set of a process in MB (the daemon's pid is node's: `ip netns exec` execs it). */
export async function rssMB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) / 1024;
}

/** Anonymous resident memory by kind of mapping, in MB. */
export interface AnonymousByMapping {
  /** V8's 256 KiB pages (every isolate's regular heap spaces). */
  v8Pages: number;
  /** glibc's main arena, the `[heap]` grown by brk. */
  brk: number;
  /** glibc's other arenas: 64 MiB reservations, each a read-write part and its PROT_NONE rest (malloc/arena.c, HEAP_MAX_SIZE). */
  arenas: number;
  /** Everything else unnamed: V8's large objects and code range, thread stacks, mmap'd mallocs. */
  otherAnon: number;
}

const ARENA_BYTES = 64 * MB;

/** Sums the anonymous resident memory of /proc/PID/smaps by kind of mapping. */
export async function anonymousByMapping(pid: number): Promise<AnonymousByMapping> {
  interface Mapping { start: number; end: number; perms: string; path: string; anon: number }
  const mappings: Mapping[] = [];
  for (const line of (await readFile(`/proc/${pid}/smaps`, 'utf8')).split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (m) {
      mappings.push({ start: parseInt(m[1], 16), end: parseInt(m[2], 16), perms: m[3], path: m[4], anon: 0 });
      continue;
    }
    const anon = /^Anonymous:\s+(\d+) kB/.exec(line);
    if (anon && mappings.length > 0) mappings[mappings.length - 1].anon += Number(anon[1]) / 1024;
  }
  const sums: AnonymousByMapping = { v8Pages: 0, brk: 0, arenas: 0, otherAnon: 0 };
  for (let i = 0; i < mappings.length; i++) {
    const { start, end, perms, path, anon } = mappings[i];
    const arena = perms === 'rw-p' && path === '' && start % ARENA_BYTES === 0 ? arenaParts(mappings, i) : 0;
    if (arena > 0) {
      for (const m of mappings.slice(i, i + arena)) sums.arenas += m.anon;
      i += arena - 1;
    } else if (path === '[heap]') sums.brk += anon;
    else if (path !== '') continue;
    else if (end - start === 256 * 1024) sums.v8Pages += anon;
    else sums.otherAnon += anon;
  }
  return sums;
}

/**
 * How many mappings from i on make one glibc arena: contiguous unnamed read-write parts (the
 * kernel may keep them as separate mappings) and the PROT_NONE rest, 64 MiB in all; 0 if they do not.
 */
function arenaParts(mappings: { start: number; end: number; perms: string; path: string }[], i: number): number {
  for (let j = i; j < mappings.length && mappings[j].path === '' && (j === i || mappings[j].start === mappings[j - 1].end); j++) {
    if (mappings[j].perms === '---p') return mappings[j].end - mappings[i].start === ARENA_BYTES ? j - i + 1 : 0;
    if (mappings[j].perms !== 'rw-p') return 0;
  }
  return 0;
}

/** The resident set and its parts, in MB. */
export interface MemoryBreakdown extends AnonymousByMapping {
  rss: number;
  anonymous: number;
  file: number;
  /** The main isolate: committed heap, and of it the young generation, old space and code space; heap in use. */
  mainHeap: number;
  mainYoung: number;
  mainOld: number;
  mainCode: number;
  mainHeapUsed: number;
  /** Memory V8 counts outside the main isolate's heap (Buffers, ArrayBuffers, the shared tables). */
  external: number;
  workersHeapUsed: number[];
  workersHeapCommitted: number[];
}

/** Reads the breakdown: the resident set first, then a /metrics scrape (as Prometheus would make), then the mappings. */
export async function memoryBreakdown(pid: number, get: (path: string) => Promise<HttpAnswer>): Promise<MemoryBreakdown> {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  const metrics = await get('/metrics');
  if (metrics.status !== 200) throw new Error(`/metrics answered ${metrics.status}`);
  const kB = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup)![1]) / 1024;
  const gauge = (name: string): number[] => [...metrics.body.matchAll(new RegExp(`^${name} (\\S+)`, 'gm'))].map((m) => Number(m[1]) / MB);
  const space = (s: string): number => gauge(`nodejs_heap_space_size_total_bytes\\{space="${s}"\\}`)[0];
  return {
    rss: kB('Rss'),
    anonymous: kB('Anonymous'),
    file: kB('Rss') - kB('Anonymous'),
    mainHeap: gauge('nodejs_heap_size_total_bytes')[0],
    mainYoung: space('new'),
    mainOld: space('old'),
    mainCode: space('code'),
    mainHeapUsed: gauge('nodejs_heap_size_used_bytes')[0],
    external: gauge('nodejs_external_memory_bytes')[0],
    workersHeapUsed: gauge('vxroute_worker_heap_used_bytes\\{worker="\\d+"\\}'),
    workersHeapCommitted: gauge('vxroute_worker_heap_committed_bytes\\{worker="\\d+"\\}'),
    ...(await anonymousByMapping(pid)),
  };
}

/** One line of a breakdown, for a bench's or a test's output. */
export function formatBreakdown(b: MemoryBreakdown): string {
  const f = (x: number): string => x.toFixed(1);
  return `RSS ${f(b.rss)} = ${f(b.anonymous)} anon + ${f(b.file)} file; main heap ${f(b.mainHeap)} (young ${f(b.mainYoung)}, old ${f(b.mainOld)}, code ${f(b.mainCode)}) / ${f(b.mainHeapUsed)} used; external ${f(b.external)}; workers ${b.workersHeapCommitted.map((c, i) => `${f(c)} / ${f(b.workersHeapUsed[i])}`).join(' + ')} used; anon V8 pages ${f(b.v8Pages)} / [heap] ${f(b.brk)} / arenas ${f(b.arenas)} / other ${f(b.otherAnon)}`;
}
