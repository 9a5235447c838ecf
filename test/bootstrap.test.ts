// The README's two commands on a bare machine: what scripts/bootstrap.mjs decides from a host's
// facts (missing tools, root, apt-get and its lists, refusal, file times) and what it runs, with
// a fake host that records the commands instead of touching this one.
import { describe, expect, it } from 'vitest';
import { addonState, bootstrap, missingPackages, packagePlan, updateAndRetry, type Host } from '../scripts/bootstrap-plan.mjs';

type Call = { command: string; args: string[] };

/** A host with everything in place, changed by `facts`; `outcome` answers each command run. */
function fakeHost(facts: Partial<Host> = {}, outcome: (c: Call) => { status: number; output: string } = () => ({ status: 0, output: '' })) {
  const calls: Call[] = [];
  const said: string[] = [];
  const host: Host = {
    has: () => true,
    root: true,
    apt: true,
    refused: false,
    aptLists: true,
    npmInstalled: true,
    addonMtime: 2000,
    nativeSourceMtimes: [1000, 1500],
    run: (command, args) => {
      const call = { command, args };
      calls.push(call);
      return outcome(call);
    },
    say: (line) => said.push(line),
    ...facts,
  };
  const commands = () => calls.map((c) => [c.command, ...c.args].join(' '));
  return { host, calls, said, commands };
}

const without = (...commands: string[]) => (c: string) => !commands.includes(c);

describe('bootstrap: system packages', () => {
  it('maps missing commands to their Debian packages, per group, each once', () => {
    expect(missingPackages(['net'], without('ping', 'ethtool'))).toEqual(['iputils-ping', 'ethtool']);
    expect(missingPackages(['net', 'test'], without('ping', 'tshark', 'nft', '/usr/lib/cni/bridge'))).toEqual(['iputils-ping', 'tshark', 'nftables', 'containernetworking-plugins']);
    expect(missingPackages(['test', 'bench'], without('socat', 'g++'))).toEqual(['g++', 'socat']); // build always; socat once
    expect(missingPackages(['net'], () => true)).toEqual([]);
  });

  it('installs as root with apt-get, saying so in one line with the way to refuse', () => {
    const plan = packagePlan({ packages: ['iputils-ping', 'ethtool'], root: true, apt: true, refused: false });
    expect(plan).toEqual({ kind: 'install', packages: ['iputils-ping', 'ethtool'], announce: 'vxroute: installing iputils-ping ethtool with apt-get (set VXROUTE_NO_APT=1 to refuse)' });
  });

  it.each([
    ['not root', { root: false, apt: true, refused: false }, ''],
    ['no apt-get', { root: true, apt: false, refused: false }, ' (no apt-get here: these are the Debian names)'],
    ['refused', { root: true, apt: true, refused: true }, ' (VXROUTE_NO_APT is set: not installing them)'],
  ])('prints the exact command instead when %s', (_why, facts, note) => {
    expect(packagePlan({ packages: ['tshark', 'socat'], ...facts })).toEqual({ kind: 'tell', message: `vxroute needs: tshark, socat${note}. Install with:\n\n  apt-get install -y tshark socat\n` });
  });

  it('has nothing to do when nothing is missing, root or not', () => {
    expect(packagePlan({ packages: [], root: false, apt: false, refused: true })).toEqual({ kind: 'ready' });
  });

  it('runs one apt-get install for all the missing packages, then the build', () => {
    const f = fakeHost({ has: without('ping', 'ethtool', 'tcpdump') });
    expect(bootstrap(['net', 'test'], f.host)).toBe(0);
    expect(f.said).toEqual(['vxroute: installing iputils-ping ethtool tcpdump with apt-get (set VXROUTE_NO_APT=1 to refuse)']);
    expect(f.commands()).toEqual(['apt-get install -y -qq --no-install-recommends iputils-ping ethtool tcpdump', 'npm run --silent build']);
  });

  it('runs apt-get update first when there are no package lists', () => {
    const f = fakeHost({ has: without('ethtool'), aptLists: false });
    expect(bootstrap(['net'], f.host)).toBe(0);
    expect(f.commands()).toEqual(['apt-get update -qq', 'apt-get install -y -qq --no-install-recommends ethtool', 'npm run --silent build']);
  });

  it('runs apt-get update once, and installs again, when the lists lack a package', () => {
    let installs = 0;
    const f = fakeHost({ has: without('tshark') }, (c) =>
      c.args[0] === 'install' && installs++ === 0 ? { status: 100, output: 'E: Unable to locate package tshark\n' } : { status: 0, output: '' },
    );
    expect(bootstrap(['test'], f.host)).toBe(0);
    expect(f.commands()).toEqual([
      'apt-get install -y -qq --no-install-recommends tshark',
      'apt-get update -qq',
      'apt-get install -y -qq --no-install-recommends tshark',
      'npm run --silent build',
    ]);
    expect(f.said).toHaveLength(1); // the announcement; a failure cured by the update is not shown
  });

  it('stops with the command to type when apt-get still fails after an update, with no second update', () => {
    const f = fakeHost({ has: without('tshark'), aptLists: false }, (c) =>
      c.args[0] === 'install' ? { status: 100, output: 'E: Unable to locate package tshark\n' } : { status: 0, output: '' },
    );
    expect(bootstrap(['test'], f.host)).toBe(1);
    expect(f.commands()).toEqual(['apt-get update -qq', 'apt-get install -y -qq --no-install-recommends tshark']);
    expect(f.said.at(-1)).toBe('vxroute: apt-get install failed (exit 100). Install by hand:\n\n  apt-get install -y tshark\n');
    expect(f.said.join('\n')).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('cures only a missing list entry with an update', () => {
    expect(updateAndRetry("E: Package 'tshark' has no installation candidate", false)).toBe(true);
    expect(updateAndRetry('E: Unable to locate package tshark', true)).toBe(false);
    expect(updateAndRetry('E: Could not get lock /var/lib/dpkg/lock-frontend', false)).toBe(false);
  });

  it('installs nothing and runs nothing when refused or not root: it prints the command and fails', () => {
    for (const facts of [{ refused: true }, { root: false }, { apt: false }]) {
      const f = fakeHost({ has: without('ping', 'ethtool'), ...facts });
      expect(bootstrap(['net'], f.host)).toBe(1);
      expect(f.calls).toEqual([]);
      expect(f.said).toHaveLength(1);
      expect(f.said[0]).toMatch(/^vxroute needs: iputils-ping, ethtool.*Install with:\n\n {2}apt-get install -y iputils-ping ethtool\n$/s);
    }
  });

  it('asks for root for the namespace groups once the packages are there', () => {
    const f = fakeHost({ root: false });
    expect(bootstrap(['net'], f.host)).toBe(1);
    expect(f.said).toEqual(['vxroute builds network namespaces for this: run it as root (e.g. sudo npm run demo).']);
    expect(f.calls).toEqual([]);
  });
});

describe('bootstrap: npm dependencies and the native addon', () => {
  it('tells a missing, stale or fresh addon apart by modification time', () => {
    expect(addonState(undefined, [1000])).toBe('missing');
    expect(addonState(2000, [1000, 2001])).toBe('stale');
    expect(addonState(2000, [1000, 2000])).toBe('fresh');
  });

  it('runs npm ci on a fresh clone (which builds the addon), then the build', () => {
    const f = fakeHost({ npmInstalled: false, addonMtime: undefined });
    expect(bootstrap(['net'], f.host)).toBe(0);
    expect(f.commands()).toEqual(['npm ci', 'npm run --silent build']);
  });

  it('rebuilds the addon when a native source is newer than the binary, and only then', () => {
    const stale = fakeHost({ addonMtime: 2000, nativeSourceMtimes: [1000, 3000] });
    expect(bootstrap(['net', 'test'], stale.host)).toBe(0);
    expect(stale.commands()).toEqual(['npm run --silent install', 'npm run --silent build']);
    expect(stale.said).toEqual(['vxroute: native sources changed since the addon was built: rebuilding it']);
    const fresh = fakeHost();
    expect(bootstrap(['net', 'test'], fresh.host)).toBe(0);
    expect(fresh.commands()).toEqual(['npm run --silent build']);
  });

  it('rebuilds a missing addon when the npm dependencies are in place', () => {
    const f = fakeHost({ addonMtime: undefined });
    expect(bootstrap([], f.host)).toBe(0);
    expect(f.commands()).toEqual(['npm run --silent install', 'npm run --silent build']);
    expect(f.said).toEqual(['vxroute: building the native addon']);
  });

  it('fails with one line when a step fails', () => {
    const f = fakeHost({ addonMtime: 1 }, (c) => (c.args.includes('install') ? { status: 1, output: '' } : { status: 0, output: '' }));
    expect(bootstrap(['net'], f.host)).toBe(1);
    expect(f.said.at(-1)).toBe('vxroute: building the native addon failed; see its output above.');
    expect(f.commands()).toEqual(['npm run --silent install']);
  });
});
