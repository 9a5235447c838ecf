// The compiled NetworkPolicy: one SharedArrayBuffer of Int32 words, written once on the main
// thread by src/policy/compile-policy.ts and never changed after it is posted to the workers (a
// change of policy is a new buffer), so readers use plain loads: postMessage orders the writes
// before the worker's first read. Offsets are in words from the start of the buffer.
//
// header | address hash | per-pod arrays | rules | pool (peers, ports, per-pod rule lists, named ports)
// Addresses are 16 bytes (IPv4 as ::ffff:a.b.c.d) as four big-endian words.

export const POLICY_MAGIC = 0x56585032; // "VXP2"

export const H_MAGIC = 0;
export const H_GENERATION = 1;
export const H_TOTAL_WORDS = 2;
export const H_POD_COUNT = 3;
export const H_POLICY_COUNT = 4;
/** Hash capacity − 1 (a power of two minus one). */
export const H_HASH_MASK = 5;
export const H_HASH_OFF = 6;
export const H_PODS_OFF = 7;
export const H_RULES_OFF = 8;
export const H_RULE_COUNT = 9;
/** Where the per-pod lists start in the pool: rule ids (ingress, egress) and named ports. */
export const H_INGRESS_LISTS_OFF = 10;
export const H_EGRESS_LISTS_OFF = 11;
export const H_NAMED_PORTS_OFF = 12;
export const HEADER_WORDS = 16;

/** Hash slot: an address and who has it. A slot with no pod and no node is empty. */
export const A_ADDR = 0; // 4 words
export const A_POD = 4;
export const A_NODE = 5;
export const ADDRESS_WORDS = 6;

/**
 * Per pod, by its slot (a pod keeps its slot while it lives; a deleted pod's slot is vacant: node
 * −1, not isolated, no rules, no named ports, no address leads to it, until a pod added takes it):
 * six arrays one after another from H_PODS_OFF (podArrayOffsets), so that a compile copies each
 * whole. Pod i's ingress rule ids, in policy order, are the pool words from
 * H_INGRESS_LISTS_OFF + ingressStarts[i] to H_INGRESS_LISTS_OFF + ingressStarts[i + 1] − 1; its
 * egress rules and named ports (NAMED_PORT_WORDS each) likewise.
 */
export function podArrayOffsets(podCount: number): {
  node: number; ingressIsolatedBy: number; egressIsolatedBy: number; ingressStarts: number; egressStarts: number; namedPortStarts: number; words: number;
} {
  const n = podCount;
  return { node: 0, ingressIsolatedBy: n, egressIsolatedBy: 2 * n, ingressStarts: 3 * n, egressStarts: 4 * n + 1, namedPortStarts: 5 * n + 2, words: 6 * n + 3 };
}

/** Per rule; a count of −1 means "every peer" / "every port and protocol". */
export const R_POLICY = 0;
/** Offsets of peer records in the pool. */
export const R_PEERS_OFF = 1;
export const R_PEERS_COUNT = 2;
/** PORT_WORDS each. */
export const R_PORTS_OFF = 3;
export const R_PORTS_COUNT = 4;
export const RULE_WORDS = 5;

/** Peer records: [kind, n, …]. */
export const PEER_POD_LIST = 1; // n sorted pod indices
export const PEER_POD_BITS = 2; // n words of a bitset over pod indices
/** [kind, family, bits, 4 address words, exceptions n, then n × (bits, 4 address words)]. */
export const PEER_IP_BLOCK = 3;
export const IP_BLOCK_EXCEPT_WORDS = 5;

/** Port entries: [protocol number, kind, lo | name id, hi]. */
export const PORT_RANGE = 0;
export const PORT_NAMED = 1;
export const PORT_WORDS = 4;

/** A pod's named container ports: [name id, protocol number, port]. */
export const NAMED_PORT_WORDS = 3;

/** Slot of an address in the hash: the same mix on both sides. */
export function addressHash(a0: number, a1: number, a2: number, a3: number): number {
  let h = Math.imul(a0 ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ a1 ^ (h >>> 15), 0xc2b2ae35);
  h = Math.imul(h ^ a2 ^ (h >>> 13), 0x27d4eb2f);
  h = Math.imul(h ^ a3 ^ (h >>> 16), 0x165667b1);
  return (h ^ (h >>> 15)) >>> 0;
}

/** Word k (0–3) of a 16-byte address, big-endian, as an Int32. */
export function addressWord(a: Uint8Array, k: number): number {
  const o = k * 4;
  return (a[o] << 24) | (a[o + 1] << 16) | (a[o + 2] << 8) | a[o + 3];
}
