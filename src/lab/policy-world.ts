// A synthetic cluster for NetworkPolicy at scale, loaded into the test API server: pods as a
// Deployment's replicas look in a real cluster, spread over namespaces and nodes that exist only in
// the API (their pods get 10.244.16.0/24 and up, never a lab node's 10.244.<i>.0/24, and nothing is
// ever sent to them), and policies that each select one app and let two others in. Beside them,
// the two pods a benchmark measures, each selected by several policies that allow its traffic.
import type { KubeApiServer, KubeObject } from './kube-api-server.js';

export const NAMESPACES = 50;
export const NODES = 100;
/** Synthetic node n's pods live in 10.244.(FIRST_POD_SUBNET + n).0/24. */
const FIRST_POD_SUBNET = 16;
const PODS_PER_NODE = 253;
const APPS = 250;

export interface WorldSize {
  /** Pods in the API, the measured ones included. */
  pods: number;
  /** Policies in the API, the measured pods' own included. */
  policies: number;
}

/** The measured pods' namespace, their policies and what those allow (bench/compare.ts's traffic). */
export const MEASURED_NAMESPACE = 'bench';
export const MEASURED_POLICIES = 5;

/** Synthetic pod i, with everything a kubelet and a controller write into it. */
export function syntheticPod(i: number): KubeObject {
  const ns = `ns-${i % NAMESPACES}`;
  const app = `app-${i % APPS}`;
  const node = i % NODES;
  const ip = `10.244.${FIRST_POD_SUBNET + node}.${2 + Math.floor(i / NODES)}`;
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
      nodeName: `node-${node}`, serviceAccountName: 'default', restartPolicy: 'Always', dnsPolicy: 'ClusterFirst', schedulerName: 'default-scheduler',
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
      phase: 'Running', hostIP: syntheticNodeIP(node), podIP: ip, podIPs: [{ ip }], startTime: time, qosClass: 'Burstable',
      conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: time })),
      containerStatuses: [{ name: 'main', ready: true, started: true, restartCount: 0, image: `registry.example.com/${app}:1.${i % 10}.0`, imageID: `registry.example.com/${app}@sha256:${'ab'.repeat(32)}`, containerID: `containerd://${'cd'.repeat(32)}`, state: { running: { startedAt: time } }, lastState: {} }],
    },
  };
}

/** Synthetic policy k selects one app in its namespace and lets two others in on a port; `port` varies for the change rounds. */
export function syntheticPolicy(k: number, port = 8080): KubeObject {
  return {
    metadata: { namespace: `ns-${k % NAMESPACES}`, name: `policy-${k}`, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy"}' } },
    spec: {
      podSelector: { matchLabels: { app: `app-${k % APPS}` } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ from: [{ podSelector: { matchLabels: { app: `app-${(k + 1) % APPS}` } } }, { namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [`ns-${(k + 2) % NAMESPACES}`] }] }, podSelector: { matchLabels: { tier: 'web' } } }], ports: [{ port, protocol: 'TCP' }, { port: 'metrics', protocol: 'TCP' }] }],
      egress: [{ to: [{ ipBlock: { cidr: '10.244.0.0/16', except: ['10.244.255.0/24'] } }], ports: [{ port: 5432, endPort: 5440, protocol: 'TCP' }] }],
    },
  };
}

/** Synthetic node n's address: on the lab's underlay subnet, above any lab node, and never sent to. */
function syntheticNodeIP(n: number): string {
  return `192.0.2.${10 + n}`;
}

/** Loads the synthetic namespaces, nodes (with no flannel lease: vxroute leaves them out of its table), pods and policies. */
export function loadSyntheticWorld(api: KubeApiServer, pods: number, policies: number): void {
  if (pods > NODES * PODS_PER_NODE) throw new RangeError(`at most ${NODES * PODS_PER_NODE} synthetic pods`);
  for (let n = 0; n < NAMESPACES; n++) api.upsertNamespace({ metadata: { name: `ns-${n}`, labels: { team: `t-${n % 5}` } } });
  for (let n = 0; n < NODES; n++) api.upsertNode({ metadata: { name: `node-${n}` }, status: { addresses: [{ type: 'InternalIP', address: syntheticNodeIP(n) }] } });
  for (let i = 0; i < pods; i++) api.upsertPod(syntheticPod(i));
  for (let k = 0; k < policies; k++) api.upsertNetworkPolicy(syntheticPolicy(k));
}

export interface MeasuredPod {
  node: string;
  ip: string;
}

/** The ports the benchmark's traffic goes to: iperf3, tcp-rr's transactions and its new connections. */
export interface MeasuredPorts {
  iperf: number;
  transactions: number;
  connects: number;
}

/**
 * The measured world: `size` in all, the client and server pods in namespace `bench`, both
 * isolated both ways by a default deny, the server let in by two policies (the client by
 * named port and port range, its whole namespace with no ports, which lets ping's echoes in) and
 * the client let out by two (the server by port, the pod network with no ports).
 */
export function loadMeasuredWorld(api: KubeApiServer, size: WorldSize, client: MeasuredPod, server: MeasuredPod, ports: MeasuredPorts): void {
  if (size.pods < 2 || size.policies < MEASURED_POLICIES) throw new RangeError(`the measured world holds at least 2 pods and ${MEASURED_POLICIES} policies`);
  loadSyntheticWorld(api, size.pods - 2, size.policies - MEASURED_POLICIES);
  const ns = MEASURED_NAMESPACE;
  api.upsertNamespace({ metadata: { name: ns, labels: { team: 'bench' } } });
  const pod = (name: string, at: MeasuredPod, labels: Record<string, string>, containerPorts: { name: string; containerPort: number; protocol: string }[]): KubeObject => ({
    metadata: { namespace: ns, name, labels: { tier: 'bench', ...labels } },
    spec: { nodeName: at.node, containers: [{ name: 'main', image: 'registry.example.com/iperf3:3.16', ports: containerPorts }] },
    status: { phase: 'Running', podIP: at.ip, podIPs: [{ ip: at.ip }] },
  });
  api.upsertPod(pod('client', client, { app: 'client' }, []));
  api.upsertPod(pod('server', server, { app: 'server' }, [
    { name: 'iperf', containerPort: ports.iperf, protocol: 'TCP' },
    { name: 'iperf-udp', containerPort: ports.iperf, protocol: 'UDP' },
  ]));
  const policy = (name: string, spec: Record<string, unknown>): KubeObject => ({ metadata: { namespace: ns, name }, spec });
  const tcpRange = { port: Math.min(ports.transactions, ports.connects), endPort: Math.max(ports.transactions, ports.connects), protocol: 'TCP' };
  api.upsertNetworkPolicy(policy('default-deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }));
  api.upsertNetworkPolicy(policy('server-from-client', {
    podSelector: { matchLabels: { app: 'server' } }, policyTypes: ['Ingress'],
    ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 'iperf', protocol: 'TCP' }, { port: 'iperf-udp', protocol: 'UDP' }, tcpRange] }],
  }));
  api.upsertNetworkPolicy(policy('server-from-team', {
    podSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['bench'] }] }, policyTypes: ['Ingress'],
    ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'bench' } }, podSelector: { matchExpressions: [{ key: 'app', operator: 'Exists' }] } }] }],
  }));
  api.upsertNetworkPolicy(policy('client-to-server', {
    podSelector: { matchLabels: { app: 'client' } }, policyTypes: ['Egress'],
    egress: [{ to: [{ podSelector: { matchLabels: { app: 'server' } } }], ports: [{ port: ports.iperf, protocol: 'TCP' }, { port: ports.iperf, protocol: 'UDP' }, tcpRange] }],
  }));
  api.upsertNetworkPolicy(policy('client-to-pods', {
    podSelector: { matchLabels: { app: 'client' } }, policyTypes: ['Egress'],
    egress: [{ to: [{ ipBlock: { cidr: '10.244.0.0/16', except: ['10.244.255.0/24'] } }] }],
  }));
}
