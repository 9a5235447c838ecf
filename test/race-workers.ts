// Real concurrency for the shared-memory tests: worker threads that run the compiled datapath
// (vitest's global setup builds dist/ first) side by side for a bounded time, VXR_RACE_MS
// (default 2 s; give more under qemu-user, where everything runs 5–10× slower).
import { Worker } from 'node:worker_threads';

export const RACE_MS = Number(process.env.VXR_RACE_MS ?? 2000);

/** The file: URL of a compiled module, from its path under src/ (e.g. 'datapath/shared-table.js'). */
export function distModule(path: string): string {
  return new URL(`../dist/src/${path}`, import.meta.url).href;
}

export interface RaceWorker {
  /**
   * An async function body run in a worker thread. In scope: `workerData` (the data given, plus
   * `deadline`, the Date.now() to stop at, set once every worker has started) and `running()`,
   * true until then. It loads modules with `await import(url)` and returns its result.
   */
  body: string;
  data: Record<string, unknown>;
}

/** Starts the workers together and resolves with their results, in order. */
export function race<T extends unknown[]>(workers: RaceWorker[]): Promise<T> {
  const gate = new Int32Array(new SharedArrayBuffer(4));
  return Promise.all(workers.map((w) => run(w, gate, workers.length))) as Promise<T>;
}

function run(w: RaceWorker, gate: Int32Array, parties: number): Promise<unknown> {
  // Each worker loads what it needs first, then waits at the gate, so that none races alone.
  const source = `
    const { workerData: given, parentPort } = require('node:worker_threads');
    const workerData = { ...given };
    const running = () => Date.now() < workerData.deadline;
    const start = () => {
      Atomics.add(given.gate, 0, 1);
      for (let n; (n = Atomics.load(given.gate, 0)) < given.parties; ) Atomics.wait(given.gate, 0, n, 100);
      Atomics.notify(given.gate, 0);
      workerData.deadline = Date.now() + given.raceMs;
    };
    (async () => { ${w.body} })().then((r) => parentPort.postMessage({ ok: r }), (e) => parentPort.postMessage({ error: String((e && e.stack) || e) }));`;
  return new Promise((resolve, reject) => {
    const worker = new Worker(source, { eval: true, workerData: { ...w.data, gate, parties, raceMs: RACE_MS } });
    worker.once('message', (m: { ok?: unknown; error?: string }) => (m.error === undefined ? resolve(m.ok) : reject(new Error(m.error))));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`worker exited with ${code} before it answered`)));
  });
}
