// @ts-check
// What `npm run demo` and `npm test` do to get a bare machine ready, decided from facts a host
// hands in (which commands exist, root, apt-get, file times) and carried out through its `run`:
// the system packages (installed with apt-get when root may, else the exact command to type),
// the npm dependencies, a native addon rebuilt when a source is newer than the binary, the build.

/** @type {Record<string, [command: string, pkg: string][]>} Per group of needs: the command that must exist, and the Debian package that brings it. */
export const TOOLS = {
  build: [['g++', 'g++'], ['make', 'make'], ['python3', 'python3']],
  net: [['ip', 'iproute2'], ['ping', 'iputils-ping'], ['ethtool', 'ethtool']],
  test: [['tcpdump', 'tcpdump'], ['tshark', 'tshark'], ['socat', 'socat'], ['nft', 'nftables'], ['iptables', 'iptables'], ['/usr/lib/cni/bridge', 'containernetworking-plugins']],
  bench: [['iperf3', 'iperf3'], ['socat', 'socat']],
  arm64: [['aarch64-linux-gnu-g++', 'g++-aarch64-linux-gnu'], ['qemu-aarch64-static', 'qemu-user-static'], ['update-binfmts', 'binfmt-support']],
  // podman builds deploy/Dockerfile on bases mmdebstrap assembles (arch-test: for a foreign
  // architecture); runc where crun refuses hybrid cgroups; qemu-user for --arch arm64.
  image: [['podman', 'podman'], ['mmdebstrap', 'mmdebstrap'], ['runc', 'runc'], ['arch-test', 'arch-test'], ['qemu-aarch64-static', 'qemu-user-static'], ['update-binfmts', 'binfmt-support']],
  // Debian 12's clang 14 keeps libFuzzer's runtime in a package of its own.
  fuzz: [['clang++', 'clang'], [`/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}.a`, 'libclang-rt-14-dev']],
};

export const REFUSE_ENV = 'VXROUTE_NO_APT';

/**
 * The packages that bring the commands `groups` need (the build group always) and `has` does not find.
 * @param {string[]} groups
 * @param {(command: string) => boolean} has
 * @returns {string[]}
 */
export function missingPackages(groups, has) {
  const missing = new Set();
  for (const group of ['build', ...groups]) {
    for (const [command, pkg] of TOOLS[group] ?? []) if (!has(command)) missing.add(pkg);
  }
  return [...missing];
}

/**
 * @typedef {{ kind: 'ready' }
 *   | { kind: 'install', packages: string[], announce: string }
 *   | { kind: 'tell', message: string }} PackagePlan
 */

/**
 * Installs what is missing when root with apt-get and not refused; otherwise says what to type.
 * @param {{ packages: string[], root: boolean, apt: boolean, refused: boolean }} facts
 * @returns {PackagePlan}
 */
export function packagePlan({ packages, root, apt, refused }) {
  if (packages.length === 0) return { kind: 'ready' };
  const list = packages.join(' ');
  if (root && apt && !refused) {
    return { kind: 'install', packages, announce: `vxroute: installing ${list} with apt-get (set ${REFUSE_ENV}=1 to refuse)` };
  }
  const why = refused ? ` (${REFUSE_ENV} is set: not installing them)` : !apt ? ' (no apt-get here: these are the Debian names)' : '';
  return { kind: 'tell', message: `vxroute needs: ${packages.join(', ')}${why}. Install with:\n\n  apt-get install -y ${list}\n` };
}

/** apt-get's words for a package it has no list entry for: lists missing or stale. */
const NO_LISTS = /Unable to locate package|has no installation candidate|is not available, but is referred to/;

/**
 * Whether the refused install is cured by `apt-get update` (done at most once).
 * @param {string} output what the failed apt-get install printed
 * @param {boolean} updated whether `apt-get update` already ran
 */
export function updateAndRetry(output, updated) {
  return !updated && NO_LISTS.test(output);
}

/**
 * Whether the native addon must be built again: missing, or older than a source (native/src/*, binding.gyp).
 * @param {number | undefined} binaryMtime
 * @param {number[]} sourceMtimes
 * @returns {'missing' | 'stale' | 'fresh'}
 */
export function addonState(binaryMtime, sourceMtimes) {
  if (binaryMtime === undefined) return 'missing';
  return sourceMtimes.some((t) => t > binaryMtime) ? 'stale' : 'fresh';
}

/**
 * @typedef {object} Host
 * @property {(command: string) => boolean} has whether a command (or an absolute path) exists
 * @property {boolean} root
 * @property {boolean} apt whether apt-get exists
 * @property {boolean} refused whether VXROUTE_NO_APT (or --no-apt) says not to install
 * @property {boolean} aptLists whether apt has package lists (/var/lib/apt/lists)
 * @property {boolean} npmInstalled whether node_modules holds this lockfile's install
 * @property {number | undefined} addonMtime the built addon's mtime, undefined when absent
 * @property {number[]} nativeSourceMtimes mtimes of native/src/* and native/binding.gyp
 * @property {(command: string, args: string[], opts?: { quiet?: boolean }) => { status: number, output: string }} run
 * @property {(line: string) => void} say one line to stderr
 */

/**
 * Gets the machine ready for `groups` (e.g. ['net', 'test']); resolves with the exit status.
 * @param {string[]} groups
 * @param {Host} host
 * @returns {number}
 */
export function bootstrap(groups, host) {
  const plan = packagePlan({ packages: missingPackages(groups, host.has), root: host.root, apt: host.apt, refused: host.refused });
  if (plan.kind === 'tell') {
    host.say(plan.message);
    return 1;
  }
  if (plan.kind === 'install') {
    host.say(plan.announce);
    const status = aptInstall(plan.packages, host);
    if (status !== 0) {
      host.say(`vxroute: apt-get install failed (exit ${status}). Install by hand:\n\n  apt-get install -y ${plan.packages.join(' ')}\n`);
      return 1;
    }
  }
  if (groups.includes('net') && !host.root) {
    host.say('vxroute builds network namespaces for this: run it as root (e.g. sudo npm run demo).');
    return 1;
  }
  if (!host.npmInstalled) {
    if (host.run('npm', ['ci']).status !== 0) return fail(host, 'npm ci');
  } else if (addonState(host.addonMtime, host.nativeSourceMtimes) !== 'fresh') {
    host.say(host.addonMtime === undefined ? 'vxroute: building the native addon' : 'vxroute: native sources changed since the addon was built: rebuilding it');
    if (host.run('npm', ['run', '--silent', 'install']).status !== 0) return fail(host, 'building the native addon');
  }
  if (host.run('npm', ['run', '--silent', 'build']).status !== 0) return fail(host, 'npm run build');
  return 0;
}

/**
 * apt-get install, after one `apt-get update` when the lists are absent or lack a package; the exit status.
 * @param {string[]} packages
 * @param {Host} host
 */
function aptInstall(packages, host) {
  let updated = false;
  /** @param {string[]} args */
  const attempt = (args) => {
    const r = host.run('apt-get', args, { quiet: true });
    if (r.status !== 0 && !(args[0] === 'install' && updateAndRetry(r.output, updated))) host.say(r.output.trimEnd().split('\n').slice(-5).join('\n'));
    return r;
  };
  const update = () => {
    updated = true;
    return attempt(['update', '-qq']).status;
  };
  const install = () => attempt(['install', '-y', '-qq', '--no-install-recommends', ...packages]);
  if (!host.aptLists && update() !== 0) return 1;
  const first = install();
  if (first.status === 0 || !updateAndRetry(first.output, updated)) return first.status;
  if (update() !== 0) return 1;
  return install().status;
}

/**
 * @param {Host} host
 * @param {string} what
 */
function fail(host, what) {
  host.say(`vxroute: ${what} failed; see its output above.`);
  return 1;
}
