// The two base images deploy/Dockerfile names (node:20-bookworm, node:20-bookworm-slim), assembled
// here without a registry: a Debian bookworm root file system from this machine's apt sources
// (mmdebstrap), Node of this Node version from the npm package node-linux-<arch>, npm from the
// npm package, a `node` user (uid 1000) as the official images have. Imported into podman under
// the names the FROM lines use. Each assembled root is cached as a tar, keyed by its inputs.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cache, ensureNode, nodeDir, run, stop } from './foreign-arch.mjs';

/** The npm that Node 20.20.2's own release tarball bundles (its lib/node_modules/npm). */
export const NPM_VERSION = '10.8.2';
const NODE_VERSION = process.versions.node;

/**
 * The bases, by the FROM line that names them. The build base stands for buildpack-deps:bookworm
 * with what node-gyp needs (g++, make, python3); the slim one for debian:bookworm-slim, whose dpkg
 * leaves out documentation and locales.
 */
export const BASES = [
  { tag: 'docker.io/library/node:20-bookworm', include: ['ca-certificates', 'g++', 'make', 'python3'], slim: false },
  { tag: 'docker.io/library/node:20-bookworm-slim', include: [], slim: true },
];

// debuerreotype's slim rules (the dpkg configuration of debian:bookworm-slim).
const SLIM_DPKG = [
  'path-exclude=/usr/share/doc/*',
  'path-include=/usr/share/doc/*/copyright',
  'path-exclude=/usr/share/man/*',
  'path-exclude=/usr/share/groff/*',
  'path-exclude=/usr/share/info/*',
  'path-exclude=/usr/share/lintian/*',
  'path-exclude=/usr/share/linda/*',
  'path-exclude=/usr/share/locale/*',
];

/** Debian's and Node's names of an architecture. */
export const NODE_ARCH = { amd64: 'x64', arm64: 'arm64' };

const images = join(cache, 'images');
const q = (s) => `'${s.replaceAll("'", `'\\''`)}'`;

/** This machine's Debian sources (deb822 or one-line), which mmdebstrap copies into the image. */
function aptSources() {
  const path = process.env.VXR_IMAGE_APT_SOURCES ?? ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list'].find(existsSync);
  if (!path) stop('no Debian apt sources on this machine (/etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list); set VXR_IMAGE_APT_SOURCES to a file');
  return path;
}

/**
 * CA certificates this machine adds to Debian's (e.g. a TLS-inspecting egress proxy's), handed to
 * Node in the build base only, so that `npm ci` inside the build reaches the registry as npm does
 * here. The slim base, which the image ships on, never gets them.
 */
function hostExtraCAs() {
  const dir = '/usr/local/share/ca-certificates';
  if (!existsSync(dir)) return '';
  return readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith('.crt')).sort().map((f) => readFileSync(join(dir, String(f)), 'utf8')).join('\n');
}

function npmRegistry() {
  return spawnSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' }).stdout.trim() || 'https://registry.npmjs.org/';
}

/** npm's own package, downloaded once. */
function ensureNpm() {
  const tgz = join(cache, `npm-${NPM_VERSION}.tgz`);
  if (existsSync(tgz)) return tgz;
  mkdirSync(cache, { recursive: true });
  run('npm', ['pack', `npm@${NPM_VERSION}`, '--pack-destination', cache, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
  return tgz;
}

/**
 * The shell mmdebstrap runs on the finished root ("$1"): Node and npm into /usr/local as the
 * official images put them, the node user, and for the build base the registry and the host's CAs.
 */
function customize(base, arch, npmTgz, extraCAs) {
  const node = nodeDir(NODE_ARCH[arch]);
  const lines = [
    'set -e',
    `cp ${q(join(node, 'bin/node'))} "$1/usr/local/bin/node"`,
    `mkdir -p "$1/usr/local/include" "$1/usr/local/lib/node_modules/npm" "$1/usr/local/etc"`,
    `cp -R ${q(join(node, 'include/node'))} "$1/usr/local/include/"`,
    `tar xzf ${q(npmTgz)} -C "$1/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner`,
    'ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm"',
    'ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"',
    // Written as files, not with useradd: the root may be of another architecture.
    `echo 'node:x:1000:' >> "$1/etc/group"`,
    `echo 'node:!:1000:1000::/home/node:/bin/bash' >> "$1/etc/passwd"`,
    `echo 'node:*:19000:0:99999:7:::' >> "$1/etc/shadow"`,
    'install -d -o 1000 -g 1000 "$1/home/node"',
  ];
  if (!base.slim) {
    lines.push(`printf 'registry=%s\\n' ${q(npmRegistry())} > "$1/usr/local/etc/npmrc"`);
    if (extraCAs) lines.push(`printf '%s\\n' ${q(extraCAs)} > "$1/usr/local/share/ca-certificates/build-host.crt"`);
  }
  return lines.join('\n');
}

/** Where the root of `base` for `arch` is cached: a file named by the hash of everything that makes it. */
export function rootTar(base, arch) {
  const sources = aptSources();
  const extraCAs = base.slim ? '' : hostExtraCAs();
  const hook = customize(base, arch, join(cache, `npm-${NPM_VERSION}.tgz`), extraCAs);
  // Node's and npm's versions are in the hook's paths.
  const key = createHash('sha256')
    .update(JSON.stringify({ arch, base, dpkg: base.slim ? SLIM_DPKG : [], hook, sources: readFileSync(sources, 'utf8') }))
    .digest('hex')
    .slice(0, 16);
  const name = base.tag.split('/').pop().replace(':', '_');
  return { tar: join(images, `${name}-${arch}-${key}.tar`), key, hook, sources, name };
}

/** The cached root file system of `base` for `arch`, assembled when its inputs changed. */
function ensureRootTar(base, arch, say) {
  const { tar, key, hook, sources, name } = rootTar(base, arch);
  if (existsSync(tar)) return { tar, key, state: 'cached' };
  mkdirSync(images, { recursive: true });
  ensureNode(NODE_ARCH[arch]);
  ensureNpm();
  const partial = `${tar}.partial`;
  rmSync(partial, { force: true });
  say(`assembling ${base.tag} for ${arch} with mmdebstrap`);
  run('mmdebstrap', [
    '--variant=minbase',
    `--arch=${arch}`,
    '--format=tar',
    '--quiet',
    ...(base.include.length ? [`--include=${base.include.join(',')}`] : []),
    ...(base.slim ? SLIM_DPKG.map((o) => `--dpkgopt=${o}`) : []),
    `--customize-hook=${hook}`,
    'bookworm',
    partial,
    sources,
  ]);
  // Older assemblies of this base for this arch are stale now.
  for (const f of readdirSync(images)) if (f.startsWith(`${name}-${arch}-`) && f.endsWith('.tar')) rmSync(join(images, f));
  renameSync(partial, tar);
  return { tar, key, state: 'assembled' };
}

/** The label an imported base carries: which tar it came from. */
const LABEL = 'io.vxroute.base-key';

/** The tag that keeps `base` for `arch` in podman's store while the other architecture's holds the FROM name. */
const archTag = (base, arch) => `localhost/vxroute-base/${base.tag.split('/').pop()}-${arch}`;

/** Both bases for `arch` in podman's store under the Dockerfile's names; per base, what it took. */
export function ensureBaseImages(arch, say) {
  return BASES.map((base) => {
    const { tar, key, state } = ensureRootTar(base, arch, say);
    const kept = archTag(base, arch);
    const have = spawnSync('podman', ['image', 'inspect', '--format', `{{index .Labels "${LABEL}"}}`, kept], { encoding: 'utf8' });
    const imported = !(have.status === 0 && have.stdout.trim() === key);
    if (imported) {
      const changes = [
        'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        `ENV NODE_VERSION=${NODE_VERSION}`,
        `LABEL ${LABEL}=${key}`,
        'CMD ["node"]',
      ];
      if (!base.slim && hostExtraCAs()) changes.push('ENV NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/build-host.crt');
      run('podman', ['import', '--quiet', `--arch=${arch}`, '--os=linux', ...changes.flatMap((c) => ['--change', c]), tar, kept], { stdio: ['ignore', 'ignore', 'inherit'] });
    }
    run('podman', ['tag', kept, base.tag]);
    return `${base.tag} (${arch}): root ${state}, ${imported ? 'imported' : 'already in podman'}`;
  });
}
