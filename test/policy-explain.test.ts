// `vxroute policy explain` as a user runs it: the built CLI, a kubeconfig, and the test API
// server (on loopback) holding the upstream e2e suite's namespaces x and y and a few policies.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeApiServer } from '../src/lab/kube-api-server.js';
import { cliPath } from '../src/lab/vxroute-process.js';

const run = promisify(execFile);

describe('vxroute policy explain', () => {
  let api: KubeApiServer;
  let dir: string;
  let kubeconfig: string;

  beforeAll(async () => {
    api = new KubeApiServer();
    const port = await api.listen('127.0.0.1', 0);
    dir = await mkdtemp(join(tmpdir(), 'vxroute-explain-'));
    kubeconfig = join(dir, 'kubeconfig');
    await writeFile(kubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'test',
      clusters: [{ name: 'test', cluster: { server: `http://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'test', user: { token: 'test' } }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: 'test' } }],
    }));
    api.upsertNode({ metadata: { name: 'n1' }, status: { addresses: [{ type: 'InternalIP', address: '192.0.2.1' }] } });
    for (const ns of ['x', 'y']) api.upsertNamespace({ metadata: { name: ns, labels: { ns } } });
    let host = 10;
    for (const ns of ['x', 'y']) {
      for (const name of ['a', 'b']) {
        api.upsertPod({
          metadata: { namespace: ns, name, labels: { pod: name } },
          spec: { nodeName: 'n1', containers: [{ name: 'c', ports: [{ name: 'serve-80-tcp', containerPort: 80 }, { name: 'serve-81-udp', containerPort: 81, protocol: 'UDP' }] }] },
          status: { phase: 'Running', podIP: `10.244.1.${host}`, podIPs: [{ ip: `10.244.1.${host++}` }] },
        });
      }
    }
    api.upsertNetworkPolicy({ metadata: { namespace: 'x', name: 'deny-ingress' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } });
    api.upsertNetworkPolicy({
      metadata: { namespace: 'x', name: 'allow-y-to-a' },
      spec: { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 'serve-80-tcp' }] }] },
    });
  });

  afterAll(async () => {
    await api?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const explain = async (...args: string[]) => {
    try {
      const { stdout } = await run(process.execPath, [cliPath(), 'policy', 'explain', '--kubeconfig', kubeconfig, ...args]);
      return { code: 0, stdout, stderr: '' };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  it('allows y/b → x/a on 80/TCP by the named port of the allowing rule, and says which policies selected a', async () => {
    const r = await explain('--from', 'y/b', '--to', 'x/a', '--port', '80/TCP');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^y\/b \(10\.244\.1\.13\) → x\/a \(10\.244\.1\.10\) 80\/TCP: ALLOW$/m);
    expect(r.stdout).toContain('x/deny-ingress');
    expect(r.stdout).toContain('x/allow-y-to-a');
    expect(r.stdout).toMatch(/resolves to 80 on x\/a; 80 matches/);
  });

  it('denies x/b → x/a, exiting 1, with the rule that did not match and why', async () => {
    const r = await explain('--from', 'x/b', '--to', 'x/a', '--port', '80');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/: DENY-INGRESS$/m);
    expect(r.stdout).toMatch(/namespace/i);
  });

  it('denies y/b → x/a on a port the named port does not resolve to', async () => {
    const r = await explain('--from', 'y/b', '--to', 'x/a', '--port', '81/TCP', '--json');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ verdict: 'deny-ingress', port: 81, protocol: 'TCP' });
  });

  it('names the bad flag and the fix, with exit status 2', async () => {
    for (const [args, pattern] of [
      [['--from', 'x/a', '--to', 'x/b', '--port', '80/ICMP'], /--port: "ICMP" is no protocol NetworkPolicy knows/],
      [['--from', 'not a pod', '--to', 'x/b', '--port', '80'], /--from: "not a pod" is neither NAMESPACE\/POD/],
      [['--to', 'x/b', '--port', '80'], /--from: is required/],
      [['--from', 'x/a', '--to', 'x/b', '--port', '70000'], /--port: "70000" is no port number/],
      [['--from', 'x/a', '--to', 'x/b', '--port', '80', '--kubeconfig', join(dir, 'none')], /--kubeconfig: /],
    ] as const) {
      const r = await explain(...args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(pattern);
    }
  });
});
