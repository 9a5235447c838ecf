// deploy/kubernetes: every manifest parses, validates against the Kubernetes API schema
// (kubernetes-models' validators for types and required fields; @kubernetes/client-node's typed
// models for unknown fields, as `kubectl --validate=strict` would reject them), and the DaemonSet's
// flags, paths, ports and names agree with what the daemon and the other manifests define.
import { dumpYaml, loadAllYaml } from '@kubernetes/client-node';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseRunOptions, type RunOptions } from '../src/cli/run-options.js';
import { formatConflist } from '../src/net/cni-conflist.js';
import { parseCidr } from '../src/subnets/cidr.js';
import { startHttpServer } from '../src/metrics/http-server.js';
import { parseNetConf } from '../src/subnets/net-conf.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIR = join(ROOT, 'deploy', 'kubernetes');

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };
type Any = any;

const MODELS: Record<string, new (data: Any) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'apps/v1/DaemonSet': DaemonSet,
};

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? yamlFiles(join(dir, e.name)) : e.name.endsWith('.yaml') ? [join(dir, e.name)] : [],
  );
}

function parseFile(path: string): Any[] {
  return parseAllDocuments(readFileSync(path, 'utf8')).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${relative(ROOT, path)}: ${doc.errors[0].message}`);
    return doc.toJS() as Any;
  });
}

/** Errors from the schema: wrong types, missing required fields, unknown kinds. */
function schemaErrors(m: Manifest): string | undefined {
  const Model = MODELS[`${m.apiVersion}/${m.kind}`];
  if (!Model) return `no schema for ${m.apiVersion} ${m.kind}`;
  try {
    new Model(m).validate();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Paths of fields the API does not know: what client-node's typed models drop on a round trip. */
function unknownFields(m: Manifest): string[] {
  const known = parseAllDocuments(dumpYaml(loadAllYaml(JSON.stringify(m))[0]))[0].toJS() as unknown;
  const out: string[] = [];
  const walk = (a: unknown, b: unknown, path: string): void => {
    if (a === null || typeof a !== 'object') return;
    for (const [k, v] of Object.entries(a)) {
      const there = (b as Record<string, unknown> | undefined)?.[k];
      if (there === undefined) out.push(`${path}.${k}`);
      else if (typeof v === 'object' && !(path.endsWith('.data') || path.endsWith('.labels') || path.endsWith('.annotations') || path.endsWith('nodeSelector') || path.endsWith('matchLabels') || path.endsWith('.requests') || path.endsWith('.limits'))) walk(v, there, `${path}.${k}`);
    }
  };
  walk(m, known, '');
  return out;
}

/** The DaemonSet's container flags as the daemon parses them, with the downward API filled in. */
function daemonOptions(c: Any): RunOptions {
  const [command, ...args] = c.args as string[];
  expect(command).toBe('run');
  const env = { NODE_NAME: 'node-a', HOST_IP: '192.0.2.10' };
  return parseRunOptions(args.map((a) => a.replace(/\$\((\w+)\)/g, (_, v: keyof typeof env) => env[v])), env);
}

/** kubectl's strategic merge for what our patches touch: maps merge, lists of named things merge by key, other lists are replaced. */
function strategicMerge(target: Any, patch: Any): Any {
  if (Array.isArray(patch)) {
    const key = ['name', 'mountPath'].find((k) => patch.every((x: Any) => x && typeof x === 'object' && k in x));
    if (!key || !Array.isArray(target)) return structuredClone(patch);
    const out = structuredClone(target);
    for (const item of patch) {
      const i = out.findIndex((x: Any) => x[key] === item[key]);
      if (i >= 0) out[i] = strategicMerge(out[i], item);
      else out.push(structuredClone(item));
    }
    return out;
  }
  if (patch === null || typeof patch !== 'object') return patch;
  const out = { ...(target ?? {}) };
  for (const [k, v] of Object.entries(patch)) out[k] = strategicMerge(out[k], v);
  return out;
}

const base = ['namespace.yaml', 'rbac.yaml', 'configmap.yaml', 'daemonset.yaml'].flatMap((f) => parseFile(join(DIR, f))) as Manifest[];
const find = <T = Any>(kind: string): T => base.find((m) => m.kind === kind) as T;
const ds = find('DaemonSet');
const pod = ds.spec.template.spec;
const container = pod.containers[0];

describe('deploy/kubernetes', () => {
  it.each(yamlFiles(DIR).map((p) => relative(DIR, p)))('%s parses as YAML', (file) => {
    expect(parseFile(join(DIR, file)).length).toBeGreaterThan(0);
  });

  it.each(base.map((m) => [`${m.kind} ${m.metadata.name}`, m] as const))('%s validates against the API schema, with no unknown field', (_, m) => {
    expect(schemaErrors(m)).toBeUndefined();
    expect(unknownFields(m)).toEqual([]);
  });

  it('catches broken copies: a wrong type, a missing required field, a misspelt field', () => {
    const wrongType = structuredClone(ds);
    wrongType.spec.template.spec.containers[0].ports[0].containerPort = 'nine';
    expect(schemaErrors(wrongType)).toMatch(/containerPort must be integer/);
    const noSelector = structuredClone(ds);
    delete noSelector.spec.selector;
    expect(schemaErrors(noSelector)).toMatch(/selector/);
    const typo = structuredClone(ds);
    typo.spec.template.spec.tolerrations = typo.spec.template.spec.tolerations;
    expect(unknownFields(typo)).toEqual(['.spec.template.spec.tolerrations']);
  });

  it('lists every manifest in the kustomizations, and their patches target real objects', () => {
    for (const dir of [DIR, join(DIR, 'mixed')]) {
      const k = parseFile(join(dir, 'kustomization.yaml'))[0];
      for (const r of k.resources as string[]) expect(existsSync(join(dir, r)), `${r} in ${relative(ROOT, dir)}`).toBe(true);
      for (const p of (k.patches ?? []) as { path: string }[]) {
        const patch = parseFile(join(dir, p.path))[0] as Manifest;
        expect(base.some((m) => m.kind === patch.kind && m.metadata.name === patch.metadata.name && m.metadata.namespace === patch.metadata.namespace)).toBe(true);
      }
    }
    const top = parseFile(join(DIR, 'kustomization.yaml'))[0];
    expect([...top.resources].sort()).toEqual(['configmap.yaml', 'daemonset.yaml', 'namespace.yaml', 'rbac.yaml']);
    expect(top.images[0].name).toBe(container.image.split(':')[0]);
    expect(top.images[0].newTag).toBe(container.image.split(':')[1]);
  });

  it('in a flannel cluster, keeps flanneld off the labelled nodes and runs vxroute there with flannel’s CNI', () => {
    const patch = parseFile(join(DIR, 'mixed', 'only-labelled-nodes.yaml'))[0];
    const mixed = strategicMerge(ds, patch);
    expect(schemaErrors(mixed)).toBeUndefined();
    expect(unknownFields(mixed)).toEqual([]);
    const spec = mixed.spec.template.spec;
    expect(spec.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux', 'vxroute.dev/datapath': 'userspace' });
    const c = spec.containers[0];
    const opts = daemonOptions(c);
    expect(opts).toMatchObject({ cni: 'flannel', subnetEnv: '/run/flannel/subnet.env', ipMasq: true });
    const mount = c.volumeMounts.find((m: Any) => m.mountPath === '/run/flannel');
    expect(spec.volumes.find((v: Any) => v.name === mount.name).hostPath.path).toBe('/run/flannel');
    // flannel's plugin and conflist, the latter from the ConfigMap's cni-conf.json.
    const installCni = spec.initContainers.find((i: Any) => i.name === 'install-cni');
    expect(installCni.args).toEqual(['-f', '/etc/kube-flannel/cni-conf.json', '/etc/cni/net.d/10-flannel.conflist']);
    expect(JSON.parse(find('ConfigMap').data['cni-conf.json']).plugins[0].type).toBe('flannel');
    expect(spec.initContainers.find((i: Any) => i.name === 'install-cni-plugin').args).toEqual(['-f', '/flannel', '/opt/cni/bin/flannel']);

    const flannelPatch = parseFile(join(DIR, 'mixed', 'flannel-elsewhere.yaml'))[0];
    const terms = flannelPatch.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms;
    expect(terms[0].matchExpressions).toContainEqual({ key: 'vxroute.dev/datapath', operator: 'DoesNotExist' });
    // Applied to a DaemonSet, the patch is valid API.
    const patched = structuredClone(ds);
    patched.spec.template.spec.affinity = flannelPatch.spec.template.spec.affinity;
    expect(schemaErrors(patched)).toBeUndefined();
    expect(unknownFields(patched)).toEqual([]);
  });

  it('runs as the DaemonSet the issue asks for', () => {
    expect(pod.hostNetwork).toBe(true);
    expect(pod.priorityClassName).toBe('system-node-critical');
    expect(pod.tolerations).toContainEqual({ operator: 'Exists' });
    expect(ds.spec.updateStrategy.type).toBe('RollingUpdate');
    expect(container.securityContext.capabilities.add).toEqual(expect.arrayContaining(['NET_ADMIN', 'NET_RAW']));
    const env = Object.fromEntries(container.env.map((e: Any) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
    expect(env).toMatchObject({ NODE_NAME: 'spec.nodeName', HOST_IP: 'status.hostIP' });
  });

  it('passes the daemon flags it accepts, with paths that the mounts provide', () => {
    expect(container.command).toBeUndefined(); // the image's ENTRYPOINT is the vxroute CLI
    const opts = daemonOptions(container);
    expect(opts.nodeName).toBe('node-a');
    expect(opts.kube).toBeDefined();
    // Loopback for `vxroute top` and kubectl port-forward; the node's address for probes and Prometheus.
    expect(opts.metrics).toEqual([{ host: '127.0.0.1', port: 9475 }, { host: '192.0.2.10', port: 9475 }]);
    expect(opts.exposeDebug).toBe(false); // the node address serves probes and Prometheus, not /debug/*

    const mountOf = (path: string) => container.volumeMounts.find((m: Any) => path === m.mountPath || path.startsWith(m.mountPath.replace(/\/?$/, '/')));
    const volume = (name: string) => pod.volumes.find((v: Any) => v.name === name);
    // net-conf.json comes from the ConfigMap, under the key its file name names.
    const netConfMount = mountOf(opts.kube!.netConf);
    const configMap = find('ConfigMap');
    expect(volume(netConfMount.name).configMap.name).toBe(configMap.metadata.name);
    const netConf = parseNetConf(JSON.parse(configMap.data[opts.kube!.netConf.slice(netConfMount.mountPath.replace(/\/?$/, '/').length)]));
    expect(netConf.network?.text).toBe('10.244.0.0/16');
    // The conflist lands in the host's /etc/cni/net.d, where kubelet reads it; pods leave masqueraded.
    expect(opts).toMatchObject({ cni: 'vxroute', cniConfDir: '/etc/cni/net.d', ipMasq: true, subnetEnv: undefined });
    expect(volume(mountOf('/etc/cni/net.d/10-vxroute.conflist').name).hostPath.path).toBe('/etc/cni/net.d');
    // The TUN device node.
    expect(volume(mountOf('/dev/net/tun').name).hostPath).toEqual({ path: '/dev/net/tun', type: 'CharDevice' });
    // Every plugin the conflist names is copied from the image into the host's /opt/cni/bin.
    const install = pod.initContainers.find((c: Any) => c.name === 'install-cni-plugins');
    const copied = (install.args as string[]).filter((a) => a.startsWith('/usr/lib/cni/')).map((a) => a.slice('/usr/lib/cni/'.length));
    const conflist = JSON.parse(formatConflist({ podCIDR: parseCidr('10.244.1.0/24'), podCIDRv6: undefined, mtu: 1450 }));
    const used = conflist.plugins.flatMap((p: Any) => [p.type, p.ipam?.type].filter(Boolean));
    expect(copied).toEqual(expect.arrayContaining([...used, 'loopback']));
    expect(install.args.at(-1)).toBe('/opt/cni/bin/');
    expect(volume(install.volumeMounts[0].name).hostPath.path).toBe('/opt/cni/bin');
  });

  it('probes endpoints the daemon serves, on the port it listens on', async () => {
    const port = container.ports.find((p: Any) => p.name === container.livenessProbe.httpGet.port);
    expect(port.containerPort).toBe(9475);
    expect(container.readinessProbe.httpGet.port).toBe(port.name);
    const [server] = await startHttpServer([{ host: '127.0.0.1', port: 0 }], { nodeName: 'n1', datapath: () => undefined, notReady: () => 'waiting for the subnet table' });
    try {
      const { port: bound } = server.address() as { port: number };
      const live = await fetch(`http://127.0.0.1:${bound}${container.livenessProbe.httpGet.path}`);
      expect(live.status).toBe(200);
      const ready = await fetch(`http://127.0.0.1:${bound}${container.readinessProbe.httpGet.path}`);
      expect(ready.status).toBe(503); // not ready until the table is in: the probe sees it
    } finally {
      server.close();
    }
  });

  it('grants what the policy source lists and watches, and nothing more of those kinds', () => {
    const rules = find('ClusterRole').rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    const granted = (group: string, resource: string) => rules.filter((r) => r.apiGroups.includes(group) && r.resources.includes(resource)).flatMap((r) => r.verbs).sort();
    // Each kind the policy world reads, by the group its list path names (src/policy/kube-policy-source.ts).
    for (const [group, resource] of [['', 'pods'], ['', 'namespaces'], ['', 'nodes'], ['networking.k8s.io', 'networkpolicies']]) {
      expect(granted(group, resource), `${group || 'core'}/${resource}`).toEqual(expect.arrayContaining(['get', 'list', 'watch']));
    }
    expect(granted('', 'pods')).toEqual(['get', 'list', 'watch']); // read only: vxroute never writes a pod
    expect(granted('networking.k8s.io', 'networkpolicies')).toEqual(['get', 'list', 'watch']);
    expect(daemonOptions(container).kube?.networkPolicy).toBe(true); // on in the DaemonSet, as by default
  });

  it('grants the API access the daemon needs to its own service account', () => {
    const role = find('ClusterRole');
    const sa = find('ServiceAccount');
    const binding = find('ClusterRoleBinding');
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch', 'patch'] },
      { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
      { apiGroups: [''], resources: ['pods', 'namespaces'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['get', 'list', 'watch'] },
    ]);
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace }]);
    expect(pod.serviceAccountName).toBe(sa.metadata.name);
    expect(ds.metadata.namespace).toBe(find('Namespace').metadata.name);
  });
});
