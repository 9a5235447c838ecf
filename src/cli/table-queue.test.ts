import { describe, expect, it } from 'vitest';
import type { SubnetTable } from '../subnets/subnet-table.js';
import { TableQueue } from './table-queue.js';

/** A stand-in table that says which change it is. */
const table = (generation: number): SubnetTable => ({ generation, nodes: [] }) as unknown as SubnetTable;
const generationOf = (t: SubnetTable): number => (t as unknown as { generation: number }).generation;

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void } {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const ticks = (n: number): Promise<void> => (n <= 0 ? Promise.resolve() : new Promise((r) => setImmediate(r)).then(() => ticks(n - 1)));

describe('TableQueue', () => {
  it('applies one table at a time; those that come meanwhile collapse into the newest', async () => {
    const applied: number[] = [];
    const gates = new Map<number, ReturnType<typeof deferred>>();
    const q = new TableQueue(() => expect.unreachable());
    q.start(async (t) => {
      const g = generationOf(t);
      gates.set(g, deferred());
      await gates.get(g)!.promise;
      applied.push(g);
    });
    q.push(table(1), 'a');
    for (let g = 2; g <= 5; g++) q.push(table(g), 'b');
    expect([...gates.keys()]).toEqual([1]); // 2..5 wait
    gates.get(1)!.resolve();
    await ticks(2);
    expect([...gates.keys()]).toEqual([1, 5]);
    gates.get(5)!.resolve();
    await q.close();
    expect(applied).toEqual([1, 5]);
  });

  it('never lands an older, slower table after a newer one, and ends on the newest', async () => {
    const applied: number[] = [];
    let running = 0;
    const q = new TableQueue(() => expect.unreachable());
    // The older the table, the longer its host commands take: the worst case for racing tasks.
    q.start(async (t) => {
      running++;
      expect(running).toBe(1);
      await ticks(50 - generationOf(t));
      applied.push(generationOf(t));
      running--;
    });
    for (let g = 1; g <= 40; g++) {
      q.push(table(g), 'burst');
      await ticks(g % 3);
    }
    for (let i = 0; i < 10_000 && applied.at(-1) !== 40; i++) await ticks(1);
    expect(applied.at(-1)).toBe(40);
    expect(applied.length).toBeLessThan(40); // some collapsed into newer ones
    for (let i = 1; i < applied.length; i++) expect(applied[i]).toBeGreaterThan(applied[i - 1]);
  });

  it('holds tables until started, then applies the newest', async () => {
    const applied: number[] = [];
    const q = new TableQueue(() => expect.unreachable());
    q.push(table(1), 'early');
    q.push(table(2), 'early');
    await ticks(2);
    q.start(async (t) => void applied.push(generationOf(t)));
    await q.close();
    expect(applied).toEqual([2]);
  });

  it('reports a failed table and goes on with the next', async () => {
    const failures: string[] = [];
    const applied: number[] = [];
    const gate = deferred();
    const q = new TableQueue((err, why) => failures.push(`${why}: ${(err as Error).message}`));
    q.start(async (t) => {
      if (generationOf(t) === 1) {
        await gate.promise;
        throw new Error('ip failed');
      }
      applied.push(generationOf(t));
    });
    q.push(table(1), 'first');
    q.push(table(2), 'second');
    gate.resolve();
    await ticks(3);
    await q.close();
    expect(failures).toEqual(['first: ip failed']);
    expect(applied).toEqual([2]);
  });

  it('carries the changed nodes of collapsed tables into the newest, and none known after a failure', async () => {
    const seen: [number, string[] | undefined][] = [];
    const gate = deferred();
    const q = new TableQueue(() => undefined);
    q.start(async (t, _why, changed) => {
      seen.push([generationOf(t), changed && [...changed].sort()]);
      if (generationOf(t) === 1) {
        await gate.promise;
        throw new Error('ip failed');
      }
    });
    q.push(table(1), 'a', new Set(['n1']));
    q.push(table(2), 'b', new Set(['n2']));
    q.push(table(3), 'c', new Set(['n3', 'n2']));
    gate.resolve();
    await ticks(3);
    q.push(table(4), 'd', new Set(['n4']));
    q.push(table(5), 'e', undefined);
    q.push(table(6), 'f', new Set(['n6']));
    await ticks(3);
    await q.close();
    // 3 carries 2's changes; it comes after a failure, so its changes are not trusted; 4 is
    // applied alone (nothing waits before it); 5's are unknown and stay so with 6 collapsed into it.
    expect(seen).toEqual([[1, ['n1']], [3, undefined], [4, ['n4']], [6, undefined]]);
  });

  it('close waits for the table being applied and drops the rest', async () => {
    const applied: number[] = [];
    const gate = deferred();
    const q = new TableQueue(() => expect.unreachable());
    q.start(async (t) => {
      await gate.promise;
      applied.push(generationOf(t));
    });
    q.push(table(1), 'x');
    q.push(table(2), 'x');
    let closed = false;
    const closing = q.close().then(() => (closed = true));
    q.push(table(3), 'after close');
    await ticks(2);
    expect(closed).toBe(false);
    gate.resolve();
    await closing;
    expect(applied).toEqual([1]);
  });
});
