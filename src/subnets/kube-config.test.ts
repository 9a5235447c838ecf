// Which kubeconfigs are read without client-node, and that what they give a request is right.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { RequestOptions } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadKubeConfig } from './kube-config.js';

const dir = mkdtempSync(join(tmpdir(), 'vxroute-kubeconfig-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(name: string, user: Record<string, unknown>, cluster: Record<string, unknown> = { server: 'https://192.0.2.10:6443', 'insecure-skip-tls-verify': true }): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'c', cluster }], users: [{ name: 'u', user }], contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }], 'current-context': 'x' }));
  return path;
}

async function optionsOf(path: string): Promise<RequestOptions & { rejectUnauthorized?: boolean; ca?: Buffer }> {
  const conn = await loadKubeConfig(path, {});
  const opts: RequestOptions = {};
  await conn.applyToHTTPSOptions(opts);
  return opts;
}

describe('loadKubeConfig', () => {
  it('reads a JSON kubeconfig with a token itself', async () => {
    const conn = await loadKubeConfig(kubeconfig('token.json', { token: 'abc' }), {});
    expect(conn.getCurrentCluster()?.server).toBe('https://192.0.2.10:6443');
    expect('makeApiClient' in conn).toBe(false); // not client-node's KubeConfig
    expect(await optionsOf(kubeconfig('token.json', { token: 'abc' }))).toMatchObject({ headers: { Authorization: 'Bearer abc' }, rejectUnauthorized: false });
  });

  it('reads a token file at every request, as a projected service account token rotates', async () => {
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'first\n');
    const conn = await loadKubeConfig(kubeconfig('token-file.json', { tokenFile }, { server: 'https://192.0.2.10:6443', 'certificate-authority-data': Buffer.from('CA').toString('base64') }), {});
    const first: RequestOptions & { ca?: Buffer } = {};
    await conn.applyToHTTPSOptions(first);
    writeFileSync(tokenFile, 'second\n');
    const second: RequestOptions = {};
    await conn.applyToHTTPSOptions(second);
    expect([first.headers, second.headers]).toEqual([{ Authorization: 'Bearer first' }, { Authorization: 'Bearer second' }]);
    expect(first.ca?.toString()).toBe('CA');
  });

  it('hands YAML and exec plugins to client-node', async () => {
    const yaml = join(dir, 'config.yaml');
    writeFileSync(yaml, 'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://192.0.2.10:6443"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n');
    const fromYaml = await loadKubeConfig(yaml, {});
    expect('makeApiClient' in fromYaml).toBe(true);
    expect(fromYaml.getCurrentCluster()?.server).toBe('https://192.0.2.10:6443');
    const exec = await loadKubeConfig(kubeconfig('exec.json', { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'true' } }), {});
    expect('makeApiClient' in exec).toBe(true);
  });

  it('names --kubeconfig when the file is missing or has no current cluster', async () => {
    await expect(loadKubeConfig(join(dir, 'none'), {})).rejects.toThrow(/--kubeconfig/);
    const path = join(dir, 'nocontext.json');
    writeFileSync(path, JSON.stringify({ clusters: [], users: [], contexts: [] }));
    await expect(loadKubeConfig(path, {})).rejects.toThrow(/--kubeconfig: .*no current cluster/);
  });
});
