// What `vxroute run` loads: the modules reachable from the CLI entry, `run` and the shard worker,
// following every import and export (type-only ones too: the image compiles without the files
// they name) and every dynamic import of a literal path. None may be the namespace test bed with
// its fake API server (src/lab), a benchmark or a test; the image leaves those out. And the
// datapath stays numeric: the shard worker never loads the address-text library, and src/packet/
// (wire codecs over (buf, off)) needs nothing outside itself.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Every source file reachable from `entries`, relative to the repository; packages by name. */
function moduleGraph(entries: string[]): Set<string> {
  const seen = new Set<string>();
  const pending = entries.map((e) => join(ROOT, e));
  while (pending.length > 0) {
    const file = pending.pop()!;
    const name = relative(ROOT, file);
    if (seen.has(name)) continue;
    seen.add(name);
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const { fileName: specifier } of importedFiles) {
      if (!specifier.startsWith('.')) {
        seen.add(specifier.startsWith('node:') ? specifier : `package ${specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/')}`);
        continue;
      }
      const target = resolve(file, '..', specifier.replace(/\.js$/, '.ts'));
      expect(existsSync(target), `${name} imports ${specifier}`).toBe(true);
      pending.push(target);
    }
  }
  return seen;
}

describe('the shipped module graph', () => {
  const graph = moduleGraph(['src/cli/main.ts', 'src/cli/run.ts', 'workers/shard.ts']);

  it('reaches the datapath and the control plane', () => {
    expect(graph).toContain('src/datapath/shard.ts');
    expect(graph).toContain('src/subnets/kube-source.ts');
    expect(graph).toContain('src/metrics/http-server.ts');
  });

  it('holds nothing of src/lab, bench or test', () => {
    expect([...graph].filter((m) => /^(src\/lab|bench|test)\/|\.test\.ts$/.test(m))).toEqual([]);
  });

  it('leaves the test bed out of the npm package too (dist/ as the global setup built it)', () => {
    const [pack] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' })) as { files: { path: string }[] }[];
    const files = pack.files.map((f) => f.path);
    expect(files).toContain('dist/src/cli/main.js');
    expect(files).toContain('dist/workers/shard.js');
    expect(files.filter((f) => /(^|\/)(lab|bench|test)\/|\.test\.js/.test(f))).toEqual([]);
  });
});

describe('the datapath', () => {
  it('loads no address text parser in the shard worker', () => {
    const worker = [...moduleGraph(['workers/shard.ts'])];
    expect(worker).toContain('src/datapath/router-forwarder.ts');
    expect(worker.filter((m) => m === 'package ipaddr.js' || m === 'src/address/ip-text.ts' || m === 'node:net')).toEqual([]);
  });

  it('has wire codecs in src/packet that import nothing but each other', () => {
    const codecs = readdirSync(join(ROOT, 'src/packet')).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
    for (const file of codecs) {
      const outside = [...moduleGraph([`src/packet/${file}`])].filter((m) => !m.startsWith('src/packet/'));
      expect(outside, file).toEqual([]);
    }
  });
});
