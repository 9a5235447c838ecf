// sendBatch's UDP GSO against the kernel's answers, on loopback inside a namespace of this test:
// a refusal (EIO, test/gso-refusal.c) turns GSO off for that socket only and is retried after a
// back-off; a run too large for its route (a small loopback MTU) goes datagram by datagram with
// GSO left on. Every datagram arrives either way.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createNamespace, deleteNamespacesSync, inNs, labId } from '../src/lab/netns.js';
import { UdpState } from '../src/native/addon.js';
import { GsoRefusal } from './gso-refusal.js';

const ADDON_MODULE = fileURLToPath(new URL('../dist/src/native/addon.js', import.meta.url));
const ROUNDS_SCRIPT = fileURLToPath(new URL('./udp-gso-rounds.mjs', import.meta.url));
const { EIO } = constants.errno;

interface Round {
  sent: number;
  received: number;
  intact: number;
  state: number[];
}

/** The child in the namespace: one round per request. */
class Rounds {
  private readonly answers: Interface;
  private readonly pending: { resolve: (line: string) => void; reject: (err: Error) => void }[] = [];
  private stderr = '';

  constructor(private readonly child: ChildProcess) {
    this.answers = createInterface({ input: child.stdout! });
    this.answers.on('line', (line) => this.pending.shift()?.resolve(line));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    child.once('exit', () => {
      for (const p of this.pending.splice(0)) p.reject(new Error(`the rounds child exited: ${this.stderr}`));
    });
  }

  async round(size: number, count: number): Promise<Record<4 | 6, Round>> {
    const answer = new Promise<string>((resolve, reject) => this.pending.push({ resolve, reject }));
    this.child.stdin!.write(`${JSON.stringify({ size, count })}\n`);
    return JSON.parse(await answer) as Record<4 | 6, Round>;
  }

  /** Rounds until `done` holds for one (at most `timeoutMs`); every round must deliver everything. */
  async until(size: number, count: number, done: (r: Record<4 | 6, Round>) => boolean, timeoutMs = 60_000): Promise<Record<4 | 6, Round>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.round(size, count);
      for (const family of [4, 6] as const) expect(r[family].intact, `IPv${family}`).toBe(count);
      if (done(r)) return r;
      if (Date.now() > deadline) throw new Error(`no round met the condition within ${timeoutMs} ms; last: ${JSON.stringify(r)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  stop(): void {
    this.child.kill();
  }
}

describe('UDP GSO on a socket (root, in a namespace of this test)', () => {
  const ns = `${labId()}-gso`;
  let dir: string;
  let refusal: GsoRefusal;
  let rounds: Rounds | undefined;

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('the UDP GSO tests need root (a namespace of their own)');
    await createNamespace(ns);
    dir = await mkdtemp(join(tmpdir(), `${ns}-`));
    refusal = await GsoRefusal.build(dir);
  });
  afterEach(() => rounds?.stop());
  afterAll(async () => {
    deleteNamespacesSync([ns]);
    await rm(dir, { recursive: true, force: true });
  });

  const start = (): Rounds => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ROUNDS_SCRIPT, ADDON_MODULE], { env: refusal.env, stdio: ['pipe', 'pipe', 'pipe'] });
    rounds = new Rounds(child);
    return rounds;
  };

  it('turns GSO off on EIO for that family only, resends the run, retries after a back-off and turns it back on', async () => {
    const r = start();
    const first = await r.round(1000, 40);
    for (const family of [4, 6] as const) {
      expect(first[family]).toMatchObject({ sent: 40, intact: 40 });
      expect(first[family].state[UdpState.gso]).toBe(1);
      expect(first[family].state[UdpState.gsoRuns]).toBeGreaterThan(0);
    }

    await refusal.refuse([4]);
    const refused = await r.round(1000, 40);
    expect(refused[4]).toMatchObject({ sent: 40, received: 40, intact: 40 });
    const v4 = refused[4].state;
    expect([v4[UdpState.gso], v4[UdpState.offErrno], v4[UdpState.changes], v4[UdpState.unsupportedRuns], v4[UdpState.gsoRuns]]).toEqual([0, EIO, 1, 1, 0]);
    expect(v4[UdpState.backoffMs]).toBe(1000);
    expect(refused[6].state[UdpState.gso]).toBe(1); // the other family's socket keeps GSO
    expect(refused[6].state[UdpState.gsoRuns]).toBeGreaterThan(0);

    // After the back-off a run is tried again; still refused: still off, twice the back-off.
    const retried = await r.until(1000, 40, (x) => x[4].state[UdpState.backoffMs] === 2000);
    expect(retried[4].state[UdpState.gso]).toBe(0);
    expect(retried[4].state[UdpState.unsupportedRuns]).toBe(1);
    expect(retried[4].state[UdpState.changes]).toBe(1);

    await refusal.allow();
    const back = await r.until(1000, 40, (x) => x[4].state[UdpState.gso] === 1);
    expect(back[4].state[UdpState.changes]).toBe(2);
    expect(back[4].state[UdpState.offErrno]).toBe(0);
    expect(back[4].state[UdpState.gsoRuns]).toBeGreaterThan(0);

    // Refused again soon after: off again, and the back-off keeps doubling (a flapping route is
    // reported at most once per back-off).
    await refusal.refuse([4]);
    const again = await r.round(1000, 40);
    expect(again[4]).toMatchObject({ received: 40, intact: 40 });
    expect([again[4].state[UdpState.gso], again[4].state[UdpState.changes], again[4].state[UdpState.backoffMs]]).toEqual([0, 3, 4000]);
    await refusal.allow();
  });

  it('sends a run too large for its route datagram by datagram and keeps GSO on', async () => {
    const r = start();
    // One segment of 1400 bytes plus headers is above a 1280-byte route: the kernel refuses the
    // run (EMSGSIZE; EINVAL before Linux 6.14), while a single datagram is fragmented.
    await inNs(ns, 'ip', ['link', 'set', 'lo', 'mtu', '1280']);
    try {
      const big = await r.round(1400, 20);
      for (const family of [4, 6] as const) {
        expect(big[family], `IPv${family}`).toMatchObject({ sent: 20, received: 20, intact: 20 });
        const s = big[family].state;
        expect([s[UdpState.gso], s[UdpState.changes], s[UdpState.tooLargeRuns], s[UdpState.unsupportedRuns]]).toEqual([1, 0, 1, 0]);
      }
      const small = await r.round(1000, 20); // runs that fit still leave as GSO
      for (const family of [4, 6] as const) expect(small[family].state[UdpState.gsoRuns]).toBeGreaterThan(0);
    } finally {
      await inNs(ns, 'ip', ['link', 'set', 'lo', 'mtu', '65536']);
    }
  });
});
