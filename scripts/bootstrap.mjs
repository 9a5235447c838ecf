// @ts-check
// Gets a fresh clone ready for `npm run demo` and `npm test` on this machine: the facts of this
// host (commands on PATH, root, apt-get and its lists, file times) for bootstrap-plan.mjs, which
// decides and runs. Usage: node scripts/bootstrap.mjs [net] [test] [bench] [--no-apt]
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bootstrap, REFUSE_ENV } from './bootstrap-plan.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);

/** @param {string} path */
const mtime = (path) => (existsSync(path) ? statSync(path).mtimeMs : undefined);
/** @param {string} dir */
const filesUnder = (dir) => (existsSync(dir) ? readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath ?? e.path, e.name)) : []);
/** @param {string} command */
const has = (command) => (command.startsWith('/') ? existsSync(command) : spawnSync('sh', ['-c', 'command -v "$1"', 'sh', command]).status === 0);
const aptListsDir = '/var/lib/apt/lists';

/** @type {import('./bootstrap-plan.mjs').Host} */
const host = {
  has,
  root: process.getuid?.() === 0,
  apt: has('apt-get'),
  refused: args.includes('--no-apt') || !['', '0', undefined].includes(process.env[REFUSE_ENV]),
  aptLists: existsSync(aptListsDir) && readdirSync(aptListsDir).some((f) => f.endsWith('_Packages') || f.includes('_Packages.')),
  npmInstalled: existsSync(join(root, 'node_modules', '.package-lock.json')),
  addonMtime: mtime(join(root, 'native', 'build', 'Release', 'vxroute.node')),
  nativeSourceMtimes: [...filesUnder(join(root, 'native', 'src')), join(root, 'native', 'binding.gyp')].map(mtime).filter((t) => t !== undefined),
  run(command, argv, opts = {}) {
    const r = spawnSync(command, argv, {
      cwd: root,
      encoding: 'utf8',
      stdio: opts.quiet ? 'pipe' : 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    return { status: r.status ?? 1, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}` };
  },
  say: (line) => process.stderr.write(`${line}\n`),
};

try {
  process.exitCode = bootstrap(args.filter((a) => !a.startsWith('--')), host);
} catch (err) {
  // One line, never a stack trace: whatever broke is named by its message.
  process.stderr.write(`vxroute: getting ready failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
