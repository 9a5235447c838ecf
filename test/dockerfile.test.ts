// deploy/Dockerfile, checked without a Docker engine (there is none on this machine): it lints
// clean, every file it copies is in the build context, and its two stages, replayed here in
// scratch directories (the build stage's COPY and RUN for real, the runtime stage's COPY --from),
// give a runtime tree whose ENTRYPOINT answers, whose native addon loads, and that holds none of
// the test bed (src/lab), the benchmarks or the tests: `vxroute demo` there says where to run it. The base images
// and the apt-get step are not exercised; the image itself was never built here.
import { DockerfileParser, type Copy, type Instruction } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const text = readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8');
const dockerfile = DockerfileParser.parse(text);
const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
const run = promisify(execFile);

/** The instructions of each stage, by its name (or its index). */
const stages = new Map<string, Instruction[]>();
{
  let current: Instruction[] = [];
  for (const i of dockerfile.getInstructions()) {
    if (i.getKeyword() === 'FROM') stages.set(i.getArguments()[2]?.getValue() ?? String(stages.size), (current = [i]));
    else current.push(i);
  }
}
const [buildName, runtimeName] = [...stages.keys()];
const args = (i: Instruction): string[] => i.getArguments().map((a) => a.getValue());
const of = (stage: string, keyword: string) => stages.get(stage)!.filter((i) => i.getKeyword() === keyword);
const isIgnored = (path: string) => ignored.some((p) => path === p || path.startsWith(`${p}/`));

/** COPY's rules: a directory's contents into the target; a file into it when it ends in "/", else as it. */
function copy(sources: string[], target: string, written: string): void {
  for (const src of sources) {
    const into = statSync(src).isDirectory() ? target : written.endsWith('/') || sources.length > 1 ? join(target, basename(src)) : target;
    mkdirSync(dirname(into), { recursive: true });
    cpSync(src, into, { recursive: true, filter: (path) => !path.startsWith(ROOT) || !isIgnored(path.slice(ROOT.length)) });
  }
}

describe('deploy/Dockerfile', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'vxroute-image-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('lints clean', () => {
    expect(validate(text).map((d) => `line ${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
  });

  it('builds on Node 20 with the toolchain and runs on the slim image with iproute2', () => {
    expect([...stages.keys()]).toEqual(['build', '1']);
    expect(args(of(buildName, 'FROM')[0])[0]).toBe('node:20-bookworm');
    expect(args(of(runtimeName, 'FROM')[0])[0]).toBe('node:20-bookworm-slim');
    expect(of(runtimeName, 'RUN').map((i) => i.getArgumentsContent()).join(' ')).toMatch(/apt-get install -y --no-install-recommends iproute2 nftables containernetworking-plugins/);
    const entry = JSON.parse(of(runtimeName, 'ENTRYPOINT')[0].getArgumentsContent()!) as string[];
    const bin = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin.vxroute;
    expect(entry).toEqual(['node', `/opt/vxroute/${bin}`]);
  });

  it('copies only files that are in the build context', () => {
    for (const copy of of(buildName, 'COPY')) {
      const sources = args(copy).slice(0, -1);
      for (const s of sources) {
        expect(existsSync(join(ROOT, s)), s).toBe(true);
        expect(isIgnored(s.replace(/\/$/, '')), `${s} is excluded by .dockerignore`).toBe(false);
      }
    }
  });

  it('replays into a runtime tree whose entrypoint runs and whose addon loads', async () => {
    // Container paths → scratch directories; the build stage's COPY and RUN run for real.
    const roots: Record<string, string> = {};
    const host = (path: string): string => {
      const root = Object.keys(roots).find((r) => path === r || path.startsWith(`${r}/`));
      if (!root) throw new Error(`${path} is outside every WORKDIR`);
      return join(roots[root], path.slice(root.length));
    };
    const env: Record<string, string> = { ...(process.env as Record<string, string>) };
    let workdir = '';
    for (const i of stages.get(buildName)!) {
      const a = args(i);
      switch (i.getKeyword()) {
        case 'WORKDIR':
          workdir = a[0];
          mkdirSync((roots[workdir] = join(scratch, 'build')), { recursive: true });
          break;
        case 'ENV':
          // The headers' place in the node image; here, the host's Node has its own.
          expect(i.getArgumentsContent()).toBe('npm_config_nodedir=/usr/local');
          env.npm_config_nodedir = dirname(dirname(process.execPath));
          break;
        case 'COPY':
          copy(a.slice(0, -1).map((src) => join(ROOT, src)), host(join(workdir, a.at(-1)!)), a.at(-1)!);
          break;
        case 'RUN':
          await run('sh', ['-c', i.getArgumentsContent()!], { cwd: host(workdir), env: { ...env, npm_config_prefer_offline: 'true' }, maxBuffer: 64 << 20 });
          break;
      }
    }
    const built = roots[workdir];
    for (const i of of(runtimeName, 'WORKDIR')) mkdirSync((roots[args(i)[0]] = join(scratch, 'runtime')), { recursive: true });
    const runtimeWorkdir = args(of(runtimeName, 'WORKDIR')[0])[0];
    for (const instruction of of(runtimeName, 'COPY')) {
      expect((instruction as Copy).getFlags().map((f) => `${f.getName()}=${f.getValue()}`)).toEqual([`from=${buildName}`]);
      const [src, dst] = args(instruction);
      copy([join(built, src.slice(workdir.length))], host(join(runtimeWorkdir, dst)), dst);
    }
    const runtime = roots[runtimeWorkdir];
    expect(existsSync(join(runtime, 'node_modules', 'typescript')), 'dev dependencies pruned').toBe(false);
    const shipped = (readdirSync(runtime, { recursive: true }) as string[]).filter((p) => !p.startsWith('node_modules'));
    expect(shipped.filter((p) => /(^|\/)(lab|bench|test)(\/|$)|\.test\.js/.test(p)), 'test bed, benchmarks or tests in the image').toEqual([]);
    expect(shipped).toContain(join('dist', 'workers', 'shard.js'));
    expect(existsSync(join(runtime, 'node_modules', '@kubernetes', 'client-node'))).toBe(true);

    const [node, cli] = JSON.parse(of(runtimeName, 'ENTRYPOINT')[0].getArgumentsContent()!) as string[];
    const help = await run(node === 'node' ? process.execPath : node, [host(cli), 'run', '--help']);
    expect(help.stdout).toMatch(/^Usage: vxroute run/);
    for (const command of ['demo', 'bench']) {
      const refused = await run(process.execPath, [host(cli), command]).then(() => undefined, (err: { code: number; stderr: string }) => err);
      expect(refused?.code, `vxroute ${command} in the image`).toBe(2);
      expect(refused?.stderr).toBe(`vxroute ${command} is part of the source tree, not the image: run it from a git clone with npm run ${command}\n`);
    }
    const addon = await run(process.execPath, ['--input-type=module', '-e', `const { addon } = await import(${JSON.stringify(join(runtime, 'dist/src/native/addon.js'))}); console.log(addon.checksum(Buffer.from([0x45, 0, 0, 0x1c]), 0, 4, 0));`]);
    expect(Number(addon.stdout)).toBe(~(0x4500 + 0x001c) & 0xffff);
  }, 900_000);
});
