// The built image (npm run image), run with podman: its entrypoint answers; its files hold what
// runs and nothing of the test bed, the dev dependencies or a compiler; the DaemonSet's init
// container copies the CNI plugins out; the DaemonSet's own command line, in a container joined to
// a node namespace of the lab, carries pods' traffic to a kernel VXLAN node. Run by
// `npm run image:test` (vitest.image.config.ts), not by `npm test`: it needs podman and the image.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { podmanGlobalArgs, runLimitArgs } from '../scripts/podman-host.mjs';
import { KernelFlanneld } from '../src/lab/kernel-flanneld.js';
import { KubeApiServer, type NodeObject } from '../src/lab/kube-api-server.js';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { ping, tcpTransfer } from '../src/lab/traffic.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);
// What this host's podman needs to start a container (runtime, rlimits): scripts/podman-host.mjs.
const podman = (...args: string[]) => run('podman', [...podmanGlobalArgs(), ...(args[0] === 'run' ? ['run', ...runLimitArgs(), ...args.slice(1)] : args)], { maxBuffer: 64 << 20 });
const MiB = 1 << 20;

interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: { name: string }[];
  securityContext?: { capabilities?: { add?: string[] } };
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
}
const daemonSet = parse(readFileSync(join(ROOT, 'deploy/kubernetes/daemonset.yaml'), 'utf8')) as {
  spec: { template: { spec: { initContainers: Container[]; containers: Container[]; volumes: { name: string; hostPath?: { path: string } }[] } } };
};
const pod = daemonSet.spec.template.spec;
const [daemon] = pod.containers;
const [installCni] = pod.initContainers;
const IMAGE = daemon.image!;
// What only the dev dependencies bring (npm's lockfile marks it "dev"), by its node_modules path.
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
const devOnly = Object.entries(lock.packages).filter(([path, p]) => p.dev && /^node_modules\/(@[^/]+\/)?[^/]+$/.test(path)).map(([path]) => path);

/** The kubelet's $(VAR) expansion of a container's args. */
const expand = (arg: string, env: Record<string, string>) => arg.replace(/\$\(([A-Z_][A-Z0-9_]*)\)/g, (_, name: string) => env[name] ?? `$(${name})`);

/** A Node as the kubelet registers it and the controller manager assigns its pod CIDR. */
function registered(n: LabNode): NodeObject {
  return {
    metadata: { name: n.name, labels: { 'kubernetes.io/hostname': n.name } },
    spec: { podCIDR: n.podCIDR, podCIDRs: [n.podCIDR] },
    status: { addresses: [{ type: 'InternalIP', address: n.publicIP }, { type: 'Hostname', address: n.name }] },
  };
}

/** The root namespace's devices: containers run with no network or in a lab namespace, so podman must add none (no cni-podman0). */
const rootLinks = async () => (await run('ip', ['-o', 'link', 'show'])).stdout.split('\n').map((l) => l.split(': ')[1]?.split('@')[0]).filter(Boolean).sort();
let linksBefore: string[];

beforeAll(async () => {
  const found = await podman('image', 'exists', IMAGE).then(() => true, () => false);
  if (!found) throw new Error(`no image ${IMAGE} in podman's store: build it first with npm run image`);
  linksBefore = await rootLinks();
});

afterAll(async () => {
  expect(await rootLinks(), 'devices in the root namespace after the image tests').toEqual(linksBefore);
});

describe(`the image ${IMAGE}`, () => {
  it('answers --help and run --help from its entrypoint', async () => {
    const help = await podman('run', '--rm', '--network', 'none', IMAGE, '--help');
    expect(help.stdout).toMatch(/^Usage: vxroute /);
    const runHelp = await podman('run', '--rm', '--network', 'none', IMAGE, 'run', '--help');
    expect(runHelp.stdout).toMatch(/^Usage: vxroute run/);
    for (const command of ['demo', 'bench']) {
      const refused = await podman('run', '--rm', '--network', 'none', IMAGE, command).then(() => undefined, (err: { code: number; stderr: string }) => err);
      expect(refused?.code, `vxroute ${command} in the image`).toBe(2);
      expect(refused?.stderr).toBe(`vxroute ${command} is part of the source tree, not the image: run it from a git clone with npm run ${command}\n`);
    }
  });

  it('holds what runs, and no test bed, dev dependency, compiler or build-host CA', async () => {
    const root = (await podman('image', 'mount', IMAGE)).stdout.trim();
    try {
      const app = join(root, 'opt/vxroute');
      expect(existsSync(join(app, 'dist/src/cli/main.js'))).toBe(true);
      expect(existsSync(join(app, 'dist/workers/shard.js'))).toBe(true);
      expect(statSync(join(app, 'native/build/Release/vxroute.node')).size).toBeGreaterThan(0);
      const shipped = (readdirSync(app, { recursive: true }) as string[]).filter((p) => !p.startsWith('node_modules'));
      expect(shipped.filter((p) => /(^|\/)(lab|bench|test|src\/lab)(\/|$)|\.test\.js$|kube-api-server/.test(p)), 'test bed, benchmarks or tests').toEqual([]);
      expect(devOnly).toContain('node_modules/typescript');
      expect(devOnly.filter((d) => existsSync(join(app, d))), 'dev dependencies').toEqual([]);
      expect(existsSync(join(app, 'node_modules/@kubernetes/client-node'))).toBe(true);
      const compilers = ['gcc', 'g++', 'cc', 'c++', 'clang', 'make', 'python3'].filter((c) => ['usr/bin', 'usr/local/bin'].some((d) => existsSync(join(root, d, c))));
      expect(compilers, 'compilers in the final stage').toEqual([]);
      expect(existsSync(join(root, 'usr/local/share/ca-certificates/build-host.crt'))).toBe(false);
      for (const plugin of ['bridge', 'host-local', 'portmap', 'loopback']) expect(existsSync(join(root, 'usr/lib/cni', plugin)), plugin).toBe(true);
      expect(existsSync(join(root, 'usr/sbin/nft')) || existsSync(join(root, 'usr/bin/nft'))).toBe(true);
      expect(existsSync(join(root, 'usr/bin/ip')) || existsSync(join(root, 'sbin/ip'))).toBe(true);
    } finally {
      await podman('image', 'unmount', IMAGE);
    }
    const env = JSON.parse((await podman('image', 'inspect', '--format', '{{json .Config.Env}}', IMAGE)).stdout) as string[];
    expect(env.filter((e) => e.startsWith('NODE_EXTRA_CA_CERTS='))).toEqual([]);
  });
});

describe('the DaemonSet with this image, in podman', () => {
  let lab: Lab;
  let api: KubeApiServer;
  let ours: LabNode;
  let kernel: LabNode;
  let kubeconfig: string;
  const containers: string[] = [];

  beforeAll(async () => {
    lab = await Lab.create();
    api = new KubeApiServer();
    kubeconfig = await lab.addApiServer(api);
    ours = await lab.addNode('vxroute');
    kernel = await lab.addNode('kernel');
    for (const n of [ours, kernel]) api.upsertNode(registered(n));
    new KernelFlanneld(api, kernel).publish();
    // The hostPath and ConfigMap volumes, as directories of the lab.
    for (const dir of ['opt-cni-bin', 'etc-cni-net.d', 'kube-flannel']) mkdirSync(join(lab.dir, dir));
    writeFileSync(join(lab.dir, 'kube-flannel/net-conf.json'), readFileSync(await lab.writeNetConf()));
  });

  afterAll(async () => {
    for (const name of containers) await podman('rm', '--force', '--time', '10', name).catch(() => undefined);
    await lab?.dispose();
    await api?.close();
  });

  /** Where each of a container's volumes comes from on this "host". */
  const volumeSource = (name: string): string => {
    const hostPath = pod.volumes.find((v) => v.name === name)?.hostPath?.path;
    const byName: Record<string, string> = { 'cni-plugin': 'opt-cni-bin', cni: 'etc-cni-net.d', config: 'kube-flannel' };
    if (byName[name]) return join(lab.dir, byName[name]);
    if (hostPath) return hostPath; // /dev/net/tun and /proc/sys/net: the host's own
    throw new Error(`volume ${name} has no stand-in here`);
  };
  /**
   * The container's volumes as bind mounts; a character device (/dev/net/tun) goes as --device.
   * runc refuses any bind mount inside /proc ("cannot be mounted because it is inside /proc"): what
   * the /proc/sys/net volume is for, a writable /proc/sys/net of the node's network namespace, is
   * podman's unmask of /proc/sys (read-only by default).
   */
  const mounts = (c: Container) =>
    c.volumeMounts.flatMap((m) =>
      m.mountPath.startsWith('/dev/')
        ? ['--device', volumeSource(m.name)]
        : m.mountPath.startsWith('/proc/sys/')
          ? ['--security-opt', 'unmask=/proc/sys']
          : ['--volume', `${volumeSource(m.name)}:${m.mountPath}${m.readOnly ? ':ro' : ''}`],
    );

  it('runs the init container: the CNI plugins land in the directory standing for /opt/cni/bin', async () => {
    const name = `${lab.id}-install-cni`;
    containers.push(name);
    await podman('run', '--rm', '--network', 'none', '--name', name, ...mounts(installCni), '--entrypoint', installCni.command![0], IMAGE, ...installCni.args!);
    const plugins = installCni.args!.filter((a) => a.startsWith('/usr/lib/cni/')).map((a) => a.slice('/usr/lib/cni/'.length));
    expect(plugins.length).toBeGreaterThan(0);
    expect(readdirSync(join(lab.dir, 'opt-cni-bin')).sort()).toEqual([...plugins].sort());
    // The host runs what arrived: the bridge plugin answers CNI's VERSION.
    const version = await run(join(lab.dir, 'opt-cni-bin/bridge'), [], { env: { CNI_COMMAND: 'VERSION' } });
    expect(JSON.parse(version.stdout)).toMatchObject({ cniVersion: expect.any(String), supportedVersions: expect.arrayContaining(['0.4.0', '1.0.0']) });
  });

  it('runs the DaemonSet’s command line in a node namespace: ping and TCP to a kernel VXLAN node', async () => {
    const name = `${lab.id}-vxroute`;
    containers.push(name);
    const env: Record<string, string> = { NODE_NAME: ours.name, HOST_IP: ours.publicIP };
    expect(daemon.env?.map((e) => e.name).sort()).toEqual(Object.keys(env).sort());
    const caps = daemon.securityContext?.capabilities?.add ?? [];
    expect(caps).toEqual(expect.arrayContaining(['NET_ADMIN', 'NET_RAW']));
    // The lab's API server speaks plain HTTP: the daemon finds it through $KUBECONFIG instead of
    // in-cluster config; the DaemonSet's arguments are unchanged.
    await podman(
      'run', '--detach', '--name', name,
      '--network', `ns:/var/run/netns/${ours.ns}`,
      ...caps.flatMap((c) => ['--cap-add', c]),
      ...mounts(daemon),
      '--volume', `${kubeconfig}:/etc/vxroute-lab/kubeconfig:ro`,
      ...Object.entries({ ...env, KUBECONFIG: '/etc/vxroute-lab/kubeconfig' }).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
      IMAGE,
      ...daemon.args!.map((a) => expand(a, env)),
    );
    // The daemon publishes its lease on its Node once its sockets are bound, and logs 'ready' once
    // its datapath forwards (routes, shards); then flanneld programs the kernel node.
    const lease = 'flannel.alpha.coreos.com/backend-data';
    const ready = (logs: { stdout: string; stderr: string }) => /"msg":"ready"/.test(logs.stdout + logs.stderr);
    for (let i = 0; ; i++) {
      const logs = await podman('logs', name);
      if (api.getNode(ours.name)?.metadata.annotations?.[lease] && ready(logs)) break;
      const state = (await podman('inspect', '--format', '{{.State.Status}}', name)).stdout.trim();
      if (state !== 'running' || i === 600) throw new Error(`the daemon's container is ${state}, not ready with its lease after ${i} polls:\n${logs.stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const programmed = await new KernelFlanneld(api, kernel).sync();
    expect(programmed.map((p) => p.podCIDR)).toEqual([ours.podCIDR]);

    expect((await ping(ours.pods[0].ns, kernel.pods[0].ip, 3, 0.05)).received).toBe(3);
    expect((await ping(kernel.pods[0].ns, ours.pods[0].ip, 3, 0.05)).received).toBe(3);
    for (const [from, to] of [[ours, kernel], [kernel, ours]]) {
      const t = await tcpTransfer(to.pods[0].ns, to.pods[0].ip, from.pods[0].ns, 8 * MiB);
      expect(t.receivedBytes, `${from.name} → ${to.name}`).toBe(8 * MiB);
      expect(t.receivedSha256, `${from.name} → ${to.name}`).toBe(t.sentSha256);
    }
    // --cni=vxroute: the conflist, written once the datapath is up, in the directory standing for /etc/cni/net.d.
    expect(readdirSync(join(lab.dir, 'etc-cni-net.d'))).toContain('10-vxroute.conflist');
    // SIGTERM (what the kubelet sends) stops it cleanly within the grace period.
    await podman('stop', '--time', '30', name);
    expect((await podman('inspect', '--format', '{{.State.ExitCode}}', name)).stdout.trim()).toBe('0');
  });
});
