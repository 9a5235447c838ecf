// How fast the NetworkPolicy world follows the API, and what it costs in memory, at 5,000 pods
// and 1,000 policies. The test API server and the policy source share this process and talk over
// loopback (no namespace needed: nothing leaves 127.0.0.1).
//   sync      source started → first world at the listener (every kind listed)
//   change    one policy replaced at the server → the world carrying it at the listener
//   memory    heap kept by the source once synced (after gc), against client-node's own
//             informer on the same pods, which keeps every V1Pod whole
//   npm run bench:policy-sync -- [--pods 5000] [--policies 1000] [--changes 50]
import { CoreV1Api, makeInformer } from '@kubernetes/client-node';
import { mkdir, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { KubeApiServer, type KubeObject } from '../src/lab/kube-api-server.js';
import { loopbackKubeConfig } from '../src/lab/loopback-kubeconfig.js';
import { KubePolicySource } from '../src/policy/kube-policy-source.js';
import type { PolicyWorld } from '../src/policy/world.js';

const { values } = parseArgs({ options: { pods: { type: 'string', default: '5000' }, policies: { type: 'string', default: '1000' }, changes: { type: 'string', default: '50' } } });
const podCount = Number(values.pods);
const policyCount = Number(values.policies);
const changes = Number(values.changes);
const NAMESPACES = 50;
const NODES = 100;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A pod as a Deployment's replica looks in a real cluster: owner, managed fields, probes, statuses. */
function pod(i: number): KubeObject {
  const ns = `ns-${i % NAMESPACES}`;
  const app = `app-${i % 250}`;
  const ip = `10.244.${(i >> 8) & 255}.${i & 255}`;
  const time = '2026-01-01T00:00:00Z';
  return {
    metadata: {
      namespace: ns, name: `${app}-7d9f8c6b5-${i.toString(36).padStart(5, 'x')}`, uid: `0b5c9d1e-0000-4000-8000-${String(i).padStart(12, '0')}`,
      generateName: `${app}-7d9f8c6b5-`, creationTimestamp: time,
      labels: { app, 'pod-template-hash': '7d9f8c6b5', tier: i % 3 === 0 ? 'db' : 'web', 'app.kubernetes.io/part-of': `system-${i % 20}` },
      annotations: { 'kubectl.kubernetes.io/restartedAt': time, 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9090' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${app}-7d9f8c6b5`, uid: '0b5c9d1e-0000-4000-8000-000000000000', controller: true, blockOwnerDeletion: true }],
      managedFields: [
        { manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1', time, fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:generateName': {}, 'f:labels': { '.': {}, 'f:app': {}, 'f:pod-template-hash': {}, 'f:tier': {} }, 'f:ownerReferences': { '.': {}, 'k:{"uid":"0b5c9d1e"}': {} } }, 'f:spec': { 'f:containers': { 'k:{"name":"main"}': { '.': {}, 'f:image': {}, 'f:ports': {}, 'f:resources': {} } } } } },
        { manager: 'kubelet', operation: 'Update', apiVersion: 'v1', time, fieldsType: 'FieldsV1', subresource: 'status', fieldsV1: { 'f:status': { 'f:conditions': {}, 'f:containerStatuses': {}, 'f:hostIP': {}, 'f:phase': {}, 'f:podIP': {}, 'f:podIPs': {}, 'f:startTime': {} } } },
      ],
    },
    spec: {
      nodeName: `node-${i % NODES}`, serviceAccountName: 'default', restartPolicy: 'Always', dnsPolicy: 'ClusterFirst', schedulerName: 'default-scheduler',
      terminationGracePeriodSeconds: 30, enableServiceLinks: true, priority: 0,
      containers: [{
        name: 'main', image: `registry.example.com/${app}:1.${i % 10}.0`, imagePullPolicy: 'IfNotPresent',
        ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'metrics', containerPort: 9090, protocol: 'TCP' }],
        env: [{ name: 'LOG_LEVEL', value: 'info' }, { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } }],
        resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
        readinessProbe: { httpGet: { path: '/ready', port: 8080, scheme: 'HTTP' }, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
        volumeMounts: [{ name: 'kube-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
        terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File',
      }],
      volumes: [{ name: 'kube-api-access', projected: { defaultMode: 420, sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }, { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } }] } }],
      tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }, { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
    },
    status: {
      phase: 'Running', hostIP: `192.0.2.${1 + (i % NODES)}`, podIP: ip, podIPs: [{ ip }], startTime: time, qosClass: 'Burstable',
      conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: time })),
      containerStatuses: [{ name: 'main', ready: true, started: true, restartCount: 0, image: `registry.example.com/${app}:1.${i % 10}.0`, imageID: `registry.example.com/${app}@sha256:${'ab'.repeat(32)}`, containerID: `containerd://${'cd'.repeat(32)}`, state: { running: { startedAt: time } }, lastState: {} }],
    },
  };
}

/** Policy k selects one app in its namespace and lets two others in on a port; `port` varies for the change rounds. */
function policy(k: number, port = 8080): KubeObject {
  return {
    metadata: { namespace: `ns-${k % NAMESPACES}`, name: `policy-${k}`, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy"}' } },
    spec: {
      podSelector: { matchLabels: { app: `app-${k % 250}` } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ from: [{ podSelector: { matchLabels: { app: `app-${(k + 1) % 250}` } } }, { namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [`ns-${(k + 2) % NAMESPACES}`] }] }, podSelector: { matchLabels: { tier: 'web' } } }], ports: [{ port, protocol: 'TCP' }, { port: 'metrics', protocol: 'TCP' }] }],
      egress: [{ to: [{ ipBlock: { cidr: '10.244.0.0/16', except: ['10.244.255.0/24'] } }], ports: [{ port: 5432, endPort: 5440, protocol: 'TCP' }] }],
    },
  };
}


function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const quantile = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const MiB = 1 << 20;

const api = new KubeApiServer();
for (let n = 0; n < NAMESPACES; n++) api.upsertNamespace({ metadata: { name: `ns-${n}`, labels: { team: `t-${n % 5}` } } });
for (let n = 0; n < NODES; n++) api.upsertNode({ metadata: { name: `node-${n}` }, status: { addresses: [{ type: 'InternalIP', address: `192.0.2.${1 + n}` }] } });
for (let i = 0; i < podCount; i++) api.upsertPod(pod(i));
for (let k = 0; k < policyCount; k++) api.upsertNetworkPolicy(policy(k));
const podJsonBytes = Buffer.byteLength(JSON.stringify(pod(0)));
const port = await api.listen('127.0.0.1', 0);
const kc = loopbackKubeConfig(port);

try {
  // client-node's informer on the same pods: what keeping whole objects costs.
  const before = heapUsed();
  const core = kc.makeApiClient(CoreV1Api);
  const informer = makeInformer(kc, '/api/v1/pods', () => core.listPodForAllNamespaces());
  await informer.start(); // resolves once the list is in the cache and the watch is open
  if (informer.list().length !== podCount) throw new Error(`client-node's informer listed ${informer.list().length} pods`);
  const informerBytes = heapUsed() - before;
  await informer.stop();
  while (api.openWatches() > 0) await new Promise((r) => setTimeout(r, 10));

  const base = heapUsed();
  const source = new KubePolicySource(kc, pino({ level: 'warn' }));
  let onWorld: (w: PolicyWorld) => void = () => {};
  let worlds = 0;
  source.onWorld((w) => {
    worlds++;
    onWorld(w);
  });
  const startedAt = performance.now();
  const first = await source.start();
  const syncMs = performance.now() - startedAt;
  if (first.pods.length !== podCount || first.policies.length !== policyCount) throw new Error(`first world has ${first.pods.length} pods, ${first.policies.length} policies`);
  while (api.openWatches() < 4) await new Promise((r) => setTimeout(r, 10)); // every list is done with
  const sourceBytes = heapUsed() - base;

  const changeMs: number[] = [];
  const worldsBefore = worlds;
  for (let j = 0; j < changes; j++) {
    const k = (j * 7919) % policyCount;
    const wanted = 10_000 + j;
    const name = `policy-${k}`;
    const seen = new Promise<number>((resolve) => {
      onWorld = (w) => {
        const p = w.policies.find((x) => x.metadata?.name === name && x.metadata.namespace === `ns-${k % NAMESPACES}`);
        if (p?.spec?.ingress?.[0].ports?.[0].port === wanted) resolve(performance.now());
      };
    });
    const sent = performance.now();
    api.upsertNetworkPolicy(policy(k, wanted));
    changeMs.push((await seen) - sent);
    onWorld = () => {};
  }
  const worldsPerChange = (worlds - worldsBefore) / changes;
  source.stop();

  const result = {
    pods: podCount, policies: policyCount, namespaces: NAMESPACES, nodes: NODES, podJsonBytes,
    syncMs,
    changeMs: { median: median(changeMs), p95: quantile(changeMs, 0.95), max: Math.max(...changeMs) },
    worldsPerChange,
    heap: { sourceBytes, informerPodsBytes: informerBytes, ratio: informerBytes / sourceBytes },
  };
  console.log(`${podCount} pods (${podJsonBytes} B of JSON each), ${policyCount} policies, ${NAMESPACES} namespaces, ${NODES} nodes; API server in the same process, over loopback\n`);
  console.log('| measure | value |');
  console.log('|---|---|');
  console.log(`| start → first world (every kind listed) | ${syncMs.toFixed(0)} ms |`);
  console.log(`| one policy's change → world at the listener (median / p95 / max of ${changes}) | ${median(changeMs).toFixed(1)} / ${quantile(changeMs, 0.95).toFixed(1)} / ${Math.max(...changeMs).toFixed(1)} ms |`);
  console.log(`| worlds per change | ${worldsPerChange.toFixed(2)} |`);
  console.log(`| heap kept by the policy source (pods, namespaces, nodes, policies), after gc | ${(sourceBytes / MiB).toFixed(1)} MiB |`);
  console.log(`| heap kept by client-node's informer on the pods alone, after gc | ${(informerBytes / MiB).toFixed(1)} MiB (${result.heap.ratio.toFixed(1)}×) |`);
  await mkdir('bench/results', { recursive: true });
  await writeFile(`bench/results/policy-sync-${Date.now()}.json`, JSON.stringify({ ...result, changeMsAll: changeMs }, null, 2));
} finally {
  await api.close();
}
