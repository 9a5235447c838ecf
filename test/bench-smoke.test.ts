// `vxroute bench --quick` as CI runs it: it must run and write its three files with every
// variant and figure in them, NetworkPolicy's row in a tiny world (its cost measured all the
// same: each change of one policy seen in force on every worker). No speed is asserted here:
// targets live in the benchmark.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { host } from '../src/lab/netns.js';
import { cliPath } from '../src/lab/vxroute-process.js';

describe('vxroute bench --quick', () => {
  let out: string;
  afterAll(async () => {
    if (out) await rm(out, { recursive: true, force: true });
  });

  it('refuses a --variants name it does not know, naming the flag and the names it knows', async () => {
    const refused = host(process.execPath, [cliPath(), 'bench', '--variants', 'vxroute,kernal']);
    await expect(refused).rejects.toThrow(/--variants: "kernal" unknown; choose from kernel, vxroute, vxroute-kube, vxroute-policy/);
  });

  // The longest test: ten two-node clusters built and measured one after the other.
  it('compares the ten paths, NetworkPolicy on against off, and writes the table, the JSON and the chart', async () => {
    out = await mkdtemp(join(tmpdir(), 'vxroute-bench-'));
    const stdout = await host(process.execPath, [cliPath(), 'bench', '--quick', '--out', out, '--policy-pods', '60', '--policies', '12']);
    expect(stdout).toMatch(/\| TCP 1 stream \(Mbit\/s\) \| \d+ \(1\.00×\) \|/);
    const files = (await readdir(out)).sort();
    expect(files.map((f) => f.replace(/^bench-.*\./, ''))).toEqual(['json', 'md', 'svg']);
    const json = JSON.parse(await readFile(join(out, files[0]), 'utf8'));
    expect(Object.keys(json.medians)).toEqual(['kernel', 'vxroute', 'vxroute-kube', 'vxroute-policy', 'vxroute-busy', 'kernel-l2', 'vxroute-l2', 'naive', 'none', 'vxroute-direct']);
    for (const variant of Object.values(json.medians) as Record<string, number>[]) {
      for (const m of ['tcp1', 'tcp4', 'udp64', 'udp1400', 'pingP50', 'pingP99', 'tcpRr', 'connectP50', 'cpuPerGbit']) expect(variant[m], m).toBeGreaterThan(0);
      // A loaded machine may lose more than 0.1 % at every rate the quick search tries (0 then),
      // and a second of kernel forwarding may take less than one clock tick of softirq.
      for (const m of ['udp64NoLoss', 'tcpRrCpu']) expect(variant[m], m).toBeGreaterThanOrEqual(0);
    }
    const { policy } = json;
    expect(policy.world).toEqual({ pods: 60, policies: 12 });
    expect(policy.baseline).toBe('vxroute-kube'); // the same API server and world, the policy off
    for (const r of ['tcp1', 'udp64', 'tcpRr']) expect(policy.ratio[r], r).toBeGreaterThan(0);
    expect(Number.isFinite(policy.connectExtraUs)).toBe(true);
    expect(policy.compiledBytes).toBeGreaterThan(0);
    expect(policy.conntrackBytes).toBeGreaterThan(65_536 * 100);
    expect(policy.deniedProbeDrops).toBeGreaterThan(0); // the row enforced policy: a connection it denies was dropped and counted
    expect(policy.changeMs.all).toHaveLength(3 * 2); // 3 changes, each seen on both nodes
    for (const ms of policy.changeMs.all) expect(ms).toBeGreaterThanOrEqual(0);
    expect(stdout).toMatch(/\| one policy changed in the API → in force on every worker .* \| \d+(\.\d+)? \/ \d+ \/ \d+ ms \| < 100 ms \|/);
    const svg = await readFile(join(out, files[2]), 'utf8');
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(svg.match(/<rect /g)!.length).toBeGreaterThanOrEqual(10 * 10);
  }, 600_000);
});
