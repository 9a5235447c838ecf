// `npm run arm64`: vxroute on arm64 without a board. Cross-builds the addon with Debian's aarch64
// g++, takes Node's own arm64 build of this Node version from the npm registry, and runs the demo
// and the shared-memory unit tests with it under qemu-user (binfmt_misc). qemu-user runs arm64 code
// with the host's x86 memory ordering: this proves the build and the runtime, not the absence of
// ordering bugs.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, openSync, readFileSync, readSync, closeSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBinfmt, ensureNode, nodeDir as nodeDirOf, run, Stop, stop } from './foreign-arch.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
// The arm64 copy of the package (ignored by git): its own node_modules and addon, so the host's
// native/build and node_modules stay x86_64.
const tree = join(root, 'build-arm64');
const nodeDir = nodeDirOf('arm64');
const arm64Node = join(nodeDir, 'bin', 'node');
// Debian's arm64 libc (libc6-arm64-cross): qemu-user loads the dynamic linker and libraries from here.
const sysroot = '/usr/aarch64-linux-gnu';
// Emulated Node runs many times slower: the lab's bounded waits grow tenfold, and each worker-thread
// race runs 10 s instead of 2 so that it still gets through its rounds.
const arm64Env = { ...process.env, QEMU_LD_PREFIX: sysroot, VXR_LAB_SLOWDOWN: '10', VXR_RACE_MS: '10000' };
// Enough TCP to run thousands of segments through TSO and GSO both ways at the 6–20 Mbit/s of emulation.
const DEMO_MIB = '16';
const EM_AARCH64 = 183; // ELF e_machine (elf.h)

const say = (line) => console.log(`arm64: ${line}`);

/** Runs a long step; resolves with its exit code. Ctrl-C reaches the child from the terminal (the
 * demo then removes its namespaces), so this process waits for it and undoes its own changes. */
function runLong(command, args, options) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'inherit', ...options });
    const wait = () => {};
    const forward = () => child.kill('SIGTERM');
    process.on('SIGINT', wait);
    process.on('SIGTERM', forward);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      process.off('SIGINT', wait);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}

async function timed(what, work) {
  const t0 = performance.now();
  const result = await work();
  const seconds = Math.round((performance.now() - t0) / 1000);
  say(`${what}: ${seconds} s`);
  return { result, seconds };
}

/** The arm64 copy of the package: sources and the host's dist/ (JavaScript is architecture-independent), arm64 node_modules. */
function syncTree() {
  if (!existsSync(join(root, 'dist/src/cli/main.js'))) stop('dist/ is missing: run npm run build (npm run arm64 does)');
  mkdirSync(join(tree, 'native'), { recursive: true });
  const lock = (dir) => (existsSync(join(dir, 'package-lock.json')) ? readFileSync(join(dir, 'package-lock.json'), 'utf8') : '');
  const installed = lock(root) === lock(tree) && existsSync(join(tree, 'node_modules/.package-lock.json'));
  for (const part of ['package.json', 'package-lock.json', 'tsconfig.json', 'vitest.arm64.config.ts', 'src', 'workers', 'test', 'bench', 'dist', 'native/binding.gyp', 'native/src']) {
    rmSync(join(tree, part), { recursive: true, force: true });
    // Timestamps kept, so make rebuilds only the native sources that changed.
    cpSync(join(root, part), join(tree, part), { recursive: true, preserveTimestamps: true });
  }
  if (installed) return 'up to date';
  // The arm64 builds of vitest's native parts (rolldown, lightningcss); no install scripts: the addon is cross-built below.
  run('npm', ['ci', '--cpu=arm64', '--os=linux', '--libc=glibc', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: tree });
  return 'installed';
}

function crossBuildAddon() {
  const nodeGyp = process.env.npm_config_node_gyp ?? join(spawnSync('npm', ['root', '-g'], { encoding: 'utf8' }).stdout.trim(), 'npm/node_modules/node-gyp/bin/node-gyp.js');
  if (!existsSync(nodeGyp)) stop(`cannot find npm's node-gyp (${nodeGyp}): run this as npm run arm64`);
  const cross = { ...process.env, CC: 'aarch64-linux-gnu-gcc', CXX: 'aarch64-linux-gnu-g++', LINK: 'aarch64-linux-gnu-g++', AR: 'aarch64-linux-gnu-ar' };
  // Node's headers from the arm64 package itself: nothing is downloaded from nodejs.org.
  const gyp = ['--directory=native', '--arch=arm64', `--nodedir=${nodeDir}`, '--loglevel=warn'];
  run(process.execPath, [nodeGyp, 'configure', ...gyp], { cwd: tree, env: cross });
  run(process.execPath, [nodeGyp, 'build', '--jobs=max', ...gyp], { cwd: tree, env: cross, stdio: ['ignore', 'ignore', 'inherit'] });
  const addon = join(tree, 'native/build/Release/vxroute.node');
  const header = Buffer.alloc(20);
  const fd = openSync(addon, 'r');
  readSync(fd, header, 0, 20, 0);
  closeSync(fd);
  if (header.readUInt16LE(18) !== EM_AARCH64) stop(`${addon} is not an arm64 ELF file`);
}

function checkEmulation() {
  const r = spawnSync(arm64Node, ['-p', 'process.arch'], { encoding: 'utf8', env: arm64Env });
  if (r.error || r.stdout.trim() !== 'arm64') {
    stop(`${arm64Node} does not run here (${r.error?.message ?? r.stderr.trim()}): is qemu-user-static installed and ${sysroot} present (g++-aarch64-linux-gnu)?`);
  }
}

async function main() {
  if (process.getuid?.() !== 0) stop('run it as root (sudo npm run arm64): it mounts binfmt_misc and builds network namespaces');
  if (!existsSync(join(sysroot, 'lib/ld-linux-aarch64.so.1'))) stop(`no arm64 libc in ${sysroot} (apt-get install -y g++-aarch64-linux-gnu)`);
  const undo = [];
  try {
    ensureBinfmt(undo, say);
    const node = await timed(`Node ${process.version} for arm64 (${nodeDir})`, async () => ensureNode('arm64'));
    say(`Node: ${node.result}`);
    const copy = await timed(`arm64 copy of the package (${tree})`, async () => syncTree());
    say(`arm64 node_modules: ${copy.result}`);
    const addon = await timed('addon cross-built with aarch64-linux-gnu-g++', async () => crossBuildAddon());
    checkEmulation();
    // The demo spawns the daemon, inside its node namespace, with process.execPath: the arm64 Node.
    // Only an arm64 Node can load the arm64 addon, so a passing demo ran the daemon on arm64.
    say(`vxroute demo --mib ${DEMO_MIB} with arm64 Node under qemu-user`);
    const demo = await timed('demo', () => runLong(arm64Node, ['dist/src/cli/main.js', 'demo', '--mib', DEMO_MIB], { cwd: tree, env: arm64Env }));
    say('unit tests of the shared-memory structures with arm64 Node under qemu-user (vitest.arm64.config.ts)');
    const tests = await timed('unit tests', () => runLong(arm64Node, ['node_modules/vitest/vitest.mjs', 'run', '--config', 'vitest.arm64.config.ts'], { cwd: tree, env: arm64Env }));
    const verdict = (code) => (code === 0 ? 'passed' : `FAILED (exit ${code})`);
    say(`demo ${verdict(demo.result)} in ${demo.seconds} s; unit tests ${verdict(tests.result)} in ${tests.seconds} s; addon build ${addon.seconds} s`);
    return demo.result === 0 && tests.result === 0 ? 0 : 1;
  } finally {
    for (const step of undo) step();
  }
}

try {
  process.exitCode = await main();
} catch (err) {
  if (!(err instanceof Stop)) throw err;
  console.error(`npm run arm64: ${err.message}`);
  process.exitCode = 1;
}
