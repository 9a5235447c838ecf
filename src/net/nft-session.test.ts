// The guard's counter read through one long-lived `nft -j -i`: one child for many scrapes, a
// child's death or error survived, a clear error when nft is missing; against a fake nft on PATH
// (which logs each start) and against the real nft in a namespace of the test's own.
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createNamespace, deleteNamespacesSync, inNs, labId } from '../lab/netns.js';
import { NftSession } from './nft-session.js';
import { GUARD_COUNTER, GUARD_TABLE, guardDrops } from './pod-vxlan-guard.js';

const COUNTER = `list counter inet ${GUARD_TABLE} ${GUARD_COUNTER}`;
const FAKE_NFT = `#!/bin/bash
echo "$$ $*" >> "$FAKE_NFT_STARTS"
while IFS= read -r line; do
  case "$line" in
    "${COUNTER}") echo '{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"counter": {"family": "inet", "name": "${GUARD_COUNTER}", "table": "${GUARD_TABLE}", "handle": 1, "packets": 7, "bytes": 420}}]}' ;;
    exit) exit 3 ;;
    hang) ;;
    *) printf 'Error: No such file or directory\\n%s\\n^^^\\n' "$line" >&2 ;;
  esac
done
`;

describe('nft session with a fake nft on PATH', () => {
  let dir: string;
  let starts: string;
  const saved = { PATH: process.env.PATH, FAKE_NFT_STARTS: process.env.FAKE_NFT_STARTS };
  const sessions: NftSession[] = [];
  const session = (timeoutMs?: number) => {
    const s = new NftSession('testing', undefined, timeoutMs);
    sessions.push(s);
    return s;
  };
  const started = async () => (await readFile(starts, 'utf8').catch(() => '')).split('\n').filter(Boolean);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vxroute-nft-'));
    starts = join(dir, 'starts');
    await writeFile(join(dir, 'nft'), FAKE_NFT);
    await chmod(join(dir, 'nft'), 0o755);
    process.env.PATH = `${dir}:${saved.PATH}`;
    process.env.FAKE_NFT_STARTS = starts;
  });
  afterEach(async () => {
    for (const s of sessions.splice(0)) s.close();
    await rm(starts, { force: true });
  });
  afterAll(async () => {
    process.env.PATH = saved.PATH;
    if (saved.FAKE_NFT_STARTS === undefined) delete process.env.FAKE_NFT_STARTS;
    else process.env.FAKE_NFT_STARTS = saved.FAKE_NFT_STARTS;
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the counter at every scrape through one child started once, as `nft -j -i`', async () => {
    const s = session();
    for (let i = 0; i < 20; i++) expect(await guardDrops(s)).toBe(7);
    const lines = await started();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(`${s.pid} -j -i`);
  });

  it('answers commands sent together in order, each with its own answer', async () => {
    const s = session();
    const answers = await Promise.allSettled([s.command(COUNTER), s.command('list counter inet nope nope'), s.command(COUNTER)]);
    expect(answers.map((a) => a.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((answers[1] as PromiseRejectedResult).reason.message).toBe('nft list counter inet nope nope: Error: No such file or directory');
    expect(await started()).toHaveLength(1);
  });

  it('survives the child being killed: the next scrape starts one new child and reads the counter', async () => {
    const s = session();
    expect(await guardDrops(s)).toBe(7);
    const first = s.pid!;
    process.kill(first, 'SIGKILL');
    // Wait for the session to see the death (the next command would otherwise race the signal).
    while (s.pid === first) await new Promise((r) => setImmediate(r));
    expect(await guardDrops(s)).toBe(7);
    expect(await guardDrops(s)).toBe(7);
    const lines = await started();
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe(`${s.pid} -j -i`);
    expect(s.pid).not.toBe(first);
  });

  it('fails the command the child dies under, and answers the next', async () => {
    const s = session();
    await expect(s.command('exit')).rejects.toThrow('nft exited (status 3) before it answered');
    expect(await guardDrops(s)).toBe(7);
    expect(await started()).toHaveLength(2);
  });

  it('gives up on a child that does not answer, and answers the next command from a new one', async () => {
    const s = session(300);
    await expect(s.command('hang')).rejects.toThrow('nft hang: no answer in 300 ms');
    expect(await guardDrops(s)).toBe(7);
    expect(await started()).toHaveLength(2);
  });

  it('says how to install nft when it is missing, and the metric reads nothing instead of failing', async () => {
    const s = new NftSession('testing', [join(dir, 'missing', 'nft'), '-j', '-i']);
    sessions.push(s);
    await expect(s.command(COUNTER)).rejects.toThrow('nft is not installed: apt-get install -y nftables (testing)');
    expect(await guardDrops(s)).toBeUndefined();
  });
});

describe('nft session with the real nft, in a namespace of its own', () => {
  const ns = labId();
  const s = new NftSession('testing', ['ip', 'netns', 'exec', ns, 'nft', '-j', '-i']);
  beforeAll(() => createNamespace(ns));
  afterAll(() => {
    s.close();
    deleteNamespacesSync([ns]);
  });

  it('reads the guard counter, reads nothing while the table is gone, and reads it again when it is back', async () => {
    const table = `table inet ${GUARD_TABLE} { counter ${GUARD_COUNTER} { packets 5 bytes 300; }; }`;
    await inNs(ns, 'nft', [table]);
    expect(await guardDrops(s)).toBe(5);
    const pid = s.pid;
    await inNs(ns, 'nft', ['delete', 'table', 'inet', GUARD_TABLE]);
    await expect(s.command(COUNTER)).rejects.toThrow(/^nft list counter inet vxroute_guard pod_vxlan: Error: /);
    expect(await guardDrops(s)).toBeUndefined();
    await inNs(ns, 'nft', [table.replace('packets 5', 'packets 9')]);
    expect(await guardDrops(s)).toBe(9);
    expect(s.pid).toBe(pid);
  });
});
