import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { StaticFileSource } from './static-source.js';
import type { SubnetTable } from './subnet-table.js';

const quiet = pino({ level: 'silent' });
const table = (read: number): SubnetTable => ({ read, nodes: [] }) as unknown as SubnetTable;
const ticks = (n: number): Promise<void> => (n <= 0 ? Promise.resolve() : new Promise((r) => setImmediate(r)).then(() => ticks(n - 1)));

/** A file reader whose reads finish when the test says, newest first if it likes. */
function slowReader() {
  const reads: { finish: (t: SubnetTable) => void; fail: (err: Error) => void }[] = [];
  const read = () => new Promise<SubnetTable>((finish, fail) => reads.push({ finish, fail }));
  return { reads, read };
}

describe('StaticFileSource.refresh', () => {
  it('reads one at a time; refreshes during a read make exactly one more read', async () => {
    const { reads, read } = slowReader();
    const source = new StaticFileSource('/nonexistent/subnets.json', quiet, {}, read);
    const got: [number, string][] = [];
    source.onTable((t, why) => got.push([(t as unknown as { read: number }).read, why]));
    source.refresh('SIGHUP');
    source.refresh('file changed');
    source.refresh('SIGHUP again');
    await ticks(2);
    expect(reads).toHaveLength(1);
    reads[0].finish(table(1));
    await ticks(2);
    expect(reads).toHaveLength(2); // the one more read, for the refreshes that came during the first
    reads[1].finish(table(2));
    await ticks(2);
    expect(reads).toHaveLength(2);
    expect(got).toEqual([[1, 'SIGHUP'], [2, 'SIGHUP again']]);
    expect(source.problem()).toBeUndefined();
  });

  it('a failed read keeps the last good table, says why, and the next refresh reads again', async () => {
    const { reads, read } = slowReader();
    const source = new StaticFileSource('/nonexistent/subnets.json', quiet, {}, read);
    const got: number[] = [];
    source.onTable((t) => got.push((t as unknown as { read: number }).read));
    source.refresh('SIGHUP');
    reads[0].fail(new Error('not valid JSON'));
    await ticks(2);
    expect(source.problem()).toBe('/nonexistent/subnets.json: not valid JSON');
    source.refresh('SIGHUP');
    await ticks(1);
    expect(reads).toHaveLength(2);
    reads[1].finish(table(2));
    await ticks(2);
    expect(got).toEqual([2]);
    expect(source.problem()).toBeUndefined();
  });
});
