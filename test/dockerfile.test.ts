// deploy/Dockerfile, checked as text: it lints clean, builds as an unprivileged user on Node 20
// and runs on the slim image, and every file it copies is in the build context. The image itself
// is built with podman by `npm run image` and run by `npm run image:test` (test/image.test.ts).
import { DockerfileParser, type Copy, type Instruction } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const text = readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8');
const dockerfile = DockerfileParser.parse(text);
const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

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

describe('deploy/Dockerfile', () => {
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
    expect(entry).toEqual(['node', '--max-semi-space-size=1', `/opt/vxroute/${bin}`]); // a small young generation without run's restart (src/cli/memory-restart.ts)
    expect(of(runtimeName, 'ENV').map((i) => i.getArgumentsContent())).toContain('MALLOC_ARENA_MAX=2'); // and two malloc arenas
  });

  it('builds as the unprivileged node user, and runs as root with the capabilities the DaemonSet grants', () => {
    const build = stages.get(buildName)!;
    const user = build.findIndex((i) => i.getKeyword() === 'USER');
    expect(user, 'USER in the build stage').toBeGreaterThan(0);
    expect(args(build[user])).toEqual(['node']);
    expect(build.findIndex((i) => i.getKeyword() === 'RUN' && /npm ci/.test(i.getArgumentsContent() ?? ''))).toBeGreaterThan(user);
    for (const c of of(buildName, 'COPY')) expect((c as Copy).getFlags().map((f) => `${f.getName()}=${f.getValue()}`)).toEqual(['chown=node:node']);
    expect(of(runtimeName, 'USER')).toEqual([]);
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
});
