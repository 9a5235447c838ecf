// flannel's Node annotations (flannel pkg/subnet/kube/annotations.go, default prefix) and the
// vxlan backend's lease data (pkg/backend/vxlan: vxlanLeaseAttrs, marshalled by encoding/json).
import { parseMac } from '../address/mac-text.js';

/** Every annotation flannel reads or writes starts with it. */
export const ANNOTATION_PREFIX = 'flannel.alpha.coreos.com/';

export const Annotation = {
  kubeSubnetManager: `${ANNOTATION_PREFIX}kube-subnet-manager`,
  backendType: `${ANNOTATION_PREFIX}backend-type`,
  backendData: `${ANNOTATION_PREFIX}backend-data`,
  backendV6Data: `${ANNOTATION_PREFIX}backend-v6-data`,
  publicIP: `${ANNOTATION_PREFIX}public-ip`,
  publicIPOverwrite: `${ANNOTATION_PREFIX}public-ip-overwrite`,
  publicIPv6: `${ANNOTATION_PREFIX}public-ipv6`,
  publicIPv6Overwrite: `${ANNOTATION_PREFIX}public-ipv6-overwrite`,
} as const;

export const BACKEND_VXLAN = 'vxlan';

/** `{"VNI":1,"VtepMAC":"0a:58:…"}`, byte for byte what flanneld writes (struct field order). */
export function formatBackendData(vni: number, vtepMAC: Buffer): string {
  const mac = Array.from(vtepMAC, (b) => b.toString(16).padStart(2, '0')).join(':');
  return JSON.stringify({ VNI: vni, VtepMAC: mac });
}

/** Reads backend-data; Go's decoder matches keys case-insensitively, so this does too. */
export function parseBackendData(text: string): { vni: number; vtepMAC: Buffer } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`backend-data ${JSON.stringify(text)} is not JSON`);
  }
  if (typeof json !== 'object' || json === null) throw new Error(`backend-data ${JSON.stringify(text)} is not an object`);
  const field = (name: string): unknown => Object.entries(json).find(([k]) => k.toLowerCase() === name)?.[1];
  const vni = field('vni');
  const mac = field('vtepmac');
  if (typeof mac !== 'string') throw new Error(`backend-data ${JSON.stringify(text)} has no VtepMAC`);
  return { vni: typeof vni === 'number' ? vni : 0, vtepMAC: parseMac(mac) };
}
