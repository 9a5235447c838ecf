// `npm run image [-- --arch arm64]`: builds deploy/Dockerfile with podman, offline, on base images
// assembled here under the names its FROM lines use (image-bases.mjs), and tags the result as the
// DaemonSet's image. With --arch arm64 it builds for arm64 as well (its RUN steps under qemu-user
// through binfmt_misc) and makes a manifest list of both. Prints each step's time and the size.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBinfmt, run, Stop, stop } from './foreign-arch.mjs';
import { ensureBaseImages } from './image-bases.mjs';
import { podmanGlobalArgs, runLimitArgs } from './podman-host.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const say = (line) => console.log(`image: ${line}`);

/** The image reference the DaemonSet runs (its first `image:`). */
export function daemonSetImage() {
  const yaml = readFileSync(join(root, 'deploy/kubernetes/daemonset.yaml'), 'utf8');
  const ref = /^\s*image:\s*(\S+)\s*$/m.exec(yaml)?.[1];
  if (!ref) stop('deploy/kubernetes/daemonset.yaml names no image');
  return ref;
}

/** The local name of the manifest list; `podman manifest push --all` publishes it under the DaemonSet's reference. */
export const manifestName = (ref) => `localhost/vxroute-multiarch:${ref.split(':').pop()}`;

const HOST_ARCH = { x64: 'amd64', arm64: 'arm64' }[process.arch];

function timed(what, work) {
  const t0 = performance.now();
  const result = work();
  say(`${what}: ${Math.round((performance.now() - t0) / 1000)} s`);
  return result;
}

function parseArgs(argv) {
  const arches = new Set([HOST_ARCH]);
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i] === '--arch' ? argv[++i] : argv[i].startsWith('--arch=') ? argv[i].slice(7) : stop(`unknown argument ${argv[i]} (usage: npm run image [-- --arch arm64])`);
    if (value !== 'amd64' && value !== 'arm64') stop(`--arch ${value ?? ''}: amd64 or arm64`);
    arches.add(value);
  }
  return [...arches];
}

function main() {
  if (process.getuid?.() !== 0) stop('run it as root (sudo npm run image): podman builds with root privileges here');
  if (!HOST_ARCH) stop(`no Debian name for this machine's architecture ${process.arch}`);
  const arches = parseArgs(process.argv.slice(2));
  const ref = daemonSetImage();
  const undo = [];
  try {
    if (arches.some((a) => a !== HOST_ARCH)) ensureBinfmt(undo, say);
    for (const arch of arches) {
      for (const line of timed(`base images for ${arch}`, () => ensureBaseImages(arch, say))) say(line);
      const tags = [`${ref}-${arch}`, ...(arch === HOST_ARCH ? [ref] : [])];
      timed(`podman build deploy/Dockerfile for ${arch}`, () =>
        // chroot isolation: RUN steps need no OCI runtime or cgroups, and reach the npm registry and
        // Debian's mirror through this machine's network, as `docker build` does through its bridge.
        run('podman', ['build', '--pull=never', `--arch=${arch}`, '--isolation=chroot', '--layers', '-f', 'deploy/Dockerfile', ...tags.flatMap((t) => ['-t', t]), '.'], { cwd: root }),
      );
      if (arch !== HOST_ARCH) {
        // The built image itself, under qemu-user: its arm64 Node loads the CLI.
        const help = timed(`vxroute --help in the ${arch} image`, () => run('podman', [...podmanGlobalArgs(), 'run', '--rm', '--network', 'none', ...runLimitArgs(), tags[0], '--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
        if (!String(help.stdout).startsWith('Usage: vxroute')) stop(`the ${arch} image's vxroute --help printed: ${help.stdout}`);
        const machine = spawnSync('podman', [...podmanGlobalArgs(), 'run', '--rm', '--network', 'none', ...runLimitArgs(), '--entrypoint', 'node', tags[0], '-p', 'process.arch'], { encoding: 'utf8' }).stdout.trim();
        say(`${tags[0]}: vxroute --help answers, node reports process.arch ${machine}`);
      }
      const size = spawnSync('podman', ['image', 'inspect', '--format', '{{.Size}}', tags[0]], { encoding: 'utf8' }).stdout.trim();
      say(`${tags.join(', ')}: ${(Number(size) / 1e6).toFixed(1)} MB (uncompressed)`);
    }
    if (arches.length > 1) {
      const list = manifestName(ref);
      spawnSync('podman', ['manifest', 'rm', list], { stdio: 'ignore' });
      run('podman', ['manifest', 'create', list], { stdio: ['ignore', 'ignore', 'inherit'] });
      for (const arch of arches) run('podman', ['manifest', 'add', list, `containers-storage:${ref}-${arch}`], { stdio: ['ignore', 'ignore', 'inherit'] });
      const manifests = JSON.parse(spawnSync('podman', ['manifest', 'inspect', list], { encoding: 'utf8' }).stdout).manifests;
      say(`manifest list ${list}: ${manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`).join(', ')}`);
      say(`publish it with: podman manifest push --all ${list} docker://${ref}`);
    }
  } finally {
    for (const step of undo) step();
  }
}

try {
  main();
} catch (err) {
  if (!(err instanceof Stop)) throw err;
  console.error(`npm run image: ${err.message}`);
  process.exitCode = 1;
}
