// `vxroute bench --quick` as CI runs it: it must run and write its three files with every
// variant and figure in them. No speed is asserted here: targets live in the benchmark.
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

  it('compares the seven paths and writes the table, the JSON and the chart', async () => {
    out = await mkdtemp(join(tmpdir(), 'vxroute-bench-'));
    const stdout = await host(process.execPath, [cliPath(), 'bench', '--quick', '--out', out]);
    expect(stdout).toMatch(/\| TCP 1 stream \(Mbit\/s\) \| \d+ \(1\.00×\) \|/);
    const files = (await readdir(out)).sort();
    expect(files.map((f) => f.replace(/^bench-.*\./, ''))).toEqual(['json', 'md', 'svg']);
    const json = JSON.parse(await readFile(join(out, files[0]), 'utf8'));
    expect(Object.keys(json.medians)).toEqual(['kernel', 'vxroute', 'vxroute-busy', 'kernel-l2', 'vxroute-l2', 'naive', 'none', 'vxroute-direct']);
    for (const variant of Object.values(json.medians) as Record<string, number>[]) {
      for (const m of ['tcp1', 'tcp4', 'udp64', 'udp1400', 'pingP50', 'pingP99', 'tcpRr', 'cpuPerGbit']) expect(variant[m], m).toBeGreaterThan(0);
      // A loaded machine may lose more than 0.1 % at every rate the quick search tries (0 then),
      // and a second of kernel forwarding may take less than one clock tick of softirq.
      for (const m of ['udp64NoLoss', 'tcpRrCpu']) expect(variant[m], m).toBeGreaterThanOrEqual(0);
    }
    const svg = await readFile(join(out, files[2]), 'utf8');
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(svg.match(/<rect /g)!.length).toBeGreaterThanOrEqual(7 * 9);
  });
});
