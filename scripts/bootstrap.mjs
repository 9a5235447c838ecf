// Gets a fresh clone ready for `npm run demo` and `npm test`: checks the few system tools
// vxroute needs (printing the exact apt-get line when one is missing), then installs and builds.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const needs = process.argv.slice(2); // which groups of tools the caller needs

const tools = {
  build: { g__: ['g++', 'g++'], make: ['make', 'make'], python3: ['python3', 'python3'] },
  net: { ip: ['ip', 'iproute2'], ping: ['ping', 'iputils-ping'], ethtool: ['ethtool', 'ethtool'] },
  test: { tcpdump: ['tcpdump', 'tcpdump'], tshark: ['tshark', 'tshark'], socat: ['socat', 'socat'], nft: ['nft', 'nftables'], iptables: ['iptables', 'iptables'], cni: ['/usr/lib/cni/bridge', 'containernetworking-plugins'] },
  bench: { iperf3: ['iperf3', 'iperf3'], socat: ['socat', 'socat'] },
  arm64: { cross: ['aarch64-linux-gnu-g++', 'g++-aarch64-linux-gnu'], qemu: ['qemu-aarch64-static', 'qemu-user-static'], binfmt: ['update-binfmts', 'binfmt-support'] },
};

const missing = new Set();
for (const group of ['build', ...needs]) {
  for (const [command, pkg] of Object.values(tools[group] ?? {})) {
    if (spawnSync('sh', ['-c', `command -v ${command}`]).status !== 0) missing.add(pkg);
  }
}
if (missing.size > 0) {
  console.error(`vxroute needs: ${[...missing].join(', ')}. Install with:\n\n  apt-get install -y ${[...missing].join(' ')}\n`);
  process.exit(1);
}
if (needs.includes('net') && process.getuid?.() !== 0) {
  console.error('vxroute builds network namespaces for this: run it as root (e.g. sudo npm run demo).');
  process.exit(1);
}

const built = existsSync(`${root}/node_modules/.package-lock.json`) && existsSync(`${root}/native/build/Release/vxroute.node`);
if (!built) execFileSync('npm', ['ci'], { cwd: root, stdio: 'inherit' });
execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
