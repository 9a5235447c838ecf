// PolicyWorld → the compiled buffer the workers decide flows from (layout in
// src/datapath/policy/policy-layout.ts). Every pod with an IP cluster-wide gets its isolation
// and its own rule lists, since vxroute checks a remote pod's egress and ingress too. Rules are
// shared between the pods a policy selects; peers become pod sets (a sorted list or a bitset,
// whichever is smaller) or prefix lists; named ports stay names, resolved at decide() time on
// the destination pod's container ports (one small list per pod).
import { setImmediate as nextTurn } from 'node:timers/promises';
import {
  ADDRESS_WORDS, A_ADDR, A_NODE, A_POD, HEADER_WORDS, H_GENERATION, H_HASH_MASK, H_HASH_OFF, H_MAGIC, H_PODS_OFF, H_POD_COUNT, H_POLICY_COUNT,
  H_RULES_OFF, H_RULE_COUNT, H_TOTAL_WORDS, NAMED_PORT_WORDS, PEER_IP_BLOCK, PEER_POD_BITS, PEER_POD_LIST, POD_WORDS, POLICY_MAGIC, PORT_NAMED,
  PORT_RANGE, P_EGRESS_ISOLATED_BY, P_EGRESS_RULES_COUNT, P_EGRESS_RULES_OFF, P_INGRESS_ISOLATED_BY, P_INGRESS_RULES_COUNT, P_INGRESS_RULES_OFF,
  P_NAMED_PORTS_COUNT, P_NAMED_PORTS_OFF, P_NODE, RULE_WORDS, R_PEERS_COUNT, R_PEERS_OFF, R_POLICY, R_PORTS_COUNT, R_PORTS_OFF,
  addressHash, addressWord,
} from '../datapath/policy/policy-layout.js';
import type { MappedPrefix } from './mapped-address.js';
import type { AddressVisitor, PodDirectory } from './pod-directory.js';
import type { Direction, ParsedPeer, ParsedPolicy, ParsedRule, PolicyProblem } from './parsed-policy.js';
import { PolicyIndex } from './policy-index.js';
import { PROTOCOL_NUMBERS } from './reference.js';
import type { PolicyWorld } from './world.js';

export interface CompiledPolicyBuffer {
  /** Immutable once built: post it to the workers, build a CompiledPolicy from it there. */
  sab: SharedArrayBuffer;
  /** reason() → "namespace/name". */
  policyNames: string[];
  /** Invalid policies and rules, and named ports no pod has: log each by its policy's name. */
  problems: PolicyProblem[];
}

export function compilePolicy(world: PolicyWorld, generation: number): CompiledPolicyBuffer {
  return compilePolicyIndex(new PolicyIndex(world), generation);
}

/** How many warm() runs it takes until a change compiles at its optimized speed (bench/policy-compile.ts, 5,000 pods, 1,000 policies). */
const WARM_RUNS = 12;

/**
 * Compiles one source's worlds in turn, each from the index of the world before where their
 * objects are the same (see PolicyIndex): a change of one policy is parsed and selected alone.
 * The buffer is new every time, equal word for word to compilePolicy's.
 */
export class PolicyCompiler {
  private previous: PolicyIndex | undefined;

  compile(world: PolicyWorld, generation: number): CompiledPolicyBuffer {
    const index = new PolicyIndex(world, this.previous);
    this.previous = index;
    return compilePolicyIndex(index, generation);
  }

  /**
   * Runs the path a change of one policy takes once, on the last world compiled with one of its
   * policies replaced by an equal copy, and throws the result away; the next compile() is as if
   * it never ran. After the first compile V8 has optimized the from-scratch path only: the first
   * changes ran partly unoptimized, 100-200 ms each instead of 10-20 (docs/decisions.md).
   */
  warm(run: number): void {
    const last = this.previous;
    if (last === undefined || last.world.policies.length === 0) return;
    const policies = [...last.world.policies];
    const k = (run * 7919) % policies.length;
    policies[k] = { ...policies[k] };
    compilePolicyIndex(new PolicyIndex({ ...last.world, policies }, last), 0);
  }

  /** warm() `runs` times, one per turn of the event loop (a change that comes meanwhile is not held up), until `signal` aborts. */
  async warmUp(signal?: AbortSignal, runs = WARM_RUNS): Promise<void> {
    for (let r = 0; r < runs && signal?.aborted !== true; r++) {
      await nextTurn();
      this.warm(r);
    }
  }
}

/** A growable Int32 word list. */
class Words {
  data = new Int32Array(1024);
  length = 0;
  push(v: number): number {
    if (this.length === this.data.length) {
      const bigger = new Int32Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length] = v;
    return this.length++;
  }
}

export function compilePolicyIndex(index: PolicyIndex, generation: number): CompiledPolicyBuffer {
  const podCount = index.pods.length;
  const r = new RuleCompiler(index);
  const { pool, rules, names } = r;

  // Which pods each policy's rules apply to: rule lists per pod and direction (CSR: counts, then
  // one flat list of rule ids), in policy order, built without a list per pod.
  const isolatedBy: Record<Direction, Int32Array> = { ingress: new Int32Array(podCount).fill(-1), egress: new Int32Array(podCount).fill(-1) };
  const listStart: Record<Direction, Int32Array> = { ingress: new Int32Array(podCount + 1), egress: new Int32Array(podCount + 1) };
  const applied: Array<{ dir: Direction; pods: readonly number[]; first: number; count: number }> = [];
  for (const policy of index.policies) {
    const selected = index.selectedPods(policy);
    if (selected.length === 0) continue;
    for (const dir of ['ingress', 'egress'] as const) {
      if (!policy.isolates[dir]) continue;
      // An invalid rule allows nothing: it is left out; the policy still isolates. A policy's rules get consecutive ids.
      const first = rules.length;
      for (const rule of policy.rules[dir]) if (rule.valid) r.compileRule(policy, rule);
      const count = rules.length - first;
      const by = isolatedBy[dir];
      const starts = listStart[dir];
      for (const pod of selected) {
        if (by[pod] < 0) by[pod] = policy.index;
        starts[pod + 1] += count;
      }
      if (count > 0) applied.push({ dir, pods: selected, first, count });
    }
  }
  const lists: Record<Direction, Int32Array> = { ingress: ruleListsOf(listStart.ingress), egress: ruleListsOf(listStart.egress) };
  const cursor: Record<Direction, Int32Array> = { ingress: listStart.ingress.slice(0, podCount), egress: listStart.egress.slice(0, podCount) };
  for (const { dir, pods, first, count } of applied) {
    const list = lists[dir];
    const at = cursor[dir];
    for (const pod of pods) for (let k = 0; k < count; k++) list[at[pod]++] = first + k;
  }

  // Per pod: its node, isolation, rule lists (in the pool, one block per direction) and the named
  // ports policies refer to.
  const podWords = new Int32Array(podCount * POD_WORDS);
  const ingressListsOff = pool.length;
  for (let k = 0; k < lists.ingress.length; k++) pool.push(lists.ingress[k]);
  const egressListsOff = pool.length;
  for (let k = 0; k < lists.egress.length; k++) pool.push(lists.egress[k]);
  for (let i = 0; i < podCount; i++) {
    const p = i * POD_WORDS;
    podWords[p + P_NODE] = index.podNode(i);
    podWords[p + P_INGRESS_ISOLATED_BY] = isolatedBy.ingress[i];
    podWords[p + P_EGRESS_ISOLATED_BY] = isolatedBy.egress[i];
    podWords[p + P_INGRESS_RULES_OFF] = ingressListsOff + listStart.ingress[i];
    podWords[p + P_INGRESS_RULES_COUNT] = listStart.ingress[i + 1] - listStart.ingress[i];
    podWords[p + P_EGRESS_RULES_OFF] = egressListsOff + listStart.egress[i];
    podWords[p + P_EGRESS_RULES_COUNT] = listStart.egress[i + 1] - listStart.egress[i];
    podWords[p + P_NAMED_PORTS_OFF] = pool.length;
    let n = 0;
    if (names.size > 0) {
      for (const port of index.pods[i].ports) {
        const id = port.name === undefined ? undefined : names.get(port.name);
        if (id === undefined) continue;
        pool.push(id);
        pool.push(PROTOCOL_NUMBERS[port.protocol]);
        pool.push(port.port);
        n++;
      }
    }
    podWords[p + P_NAMED_PORTS_COUNT] = n;
  }

  const hash = addressHashOf(index.directory);
  const capacity = hash.length / ADDRESS_WORDS;
  const hashOff = HEADER_WORDS;
  const podsOff = hashOff + hash.length;
  const rulesOff = podsOff + podCount * POD_WORDS;
  const poolOff = rulesOff + rules.length * RULE_WORDS;
  const total = poolOff + pool.length;
  const sab = new SharedArrayBuffer(total * 4);
  const w = new Int32Array(sab);
  w[H_MAGIC] = POLICY_MAGIC;
  w[H_GENERATION] = generation;
  w[H_TOTAL_WORDS] = total;
  w[H_POD_COUNT] = podCount;
  w[H_POLICY_COUNT] = index.policies.length;
  w[H_HASH_MASK] = capacity - 1;
  w[H_HASH_OFF] = hashOff;
  w[H_PODS_OFF] = podsOff;
  w[H_RULES_OFF] = rulesOff;
  w[H_RULE_COUNT] = rules.length;

  w.set(hash, hashOff);

  for (let i = 0; i < podCount * POD_WORDS; i++) {
    const field = i % POD_WORDS;
    const relocate = field === P_INGRESS_RULES_OFF || field === P_EGRESS_RULES_OFF || field === P_NAMED_PORTS_OFF;
    w[podsOff + i] = relocate ? podWords[i] + poolOff : podWords[i];
  }
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i];
    const at = rulesOff + i * RULE_WORDS;
    w[at + R_POLICY] = rule[0];
    w[at + R_PEERS_OFF] = rule[1] + poolOff;
    w[at + R_PEERS_COUNT] = rule[2];
    w[at + R_PORTS_OFF] = rule[3] + poolOff;
    w[at + R_PORTS_COUNT] = rule[4];
  }
  w.set(pool.data.subarray(0, pool.length), poolOff);
  for (const ref of r.poolRefs) w[poolOff + ref] += poolOff;

  return { sab, policyNames: index.policies.map((p) => `${p.namespace}/${p.name}`), problems: index.problems };
}

// The compile's helpers are methods of classes, not closures made per compile: V8 inlines a
// closure into the optimized compile and throws that code away when the next compile brings a new
// closure ("wrong call target"), so the first changes after start ran unoptimized (100-200 ms
// each instead of 10-20).

/** Rules, each compiled once and shared by every pod its policy selects, into one word pool. */
class RuleCompiler {
  /** Offsets relative to the pool; fixed up when the pool's place is known. */
  readonly pool = new Words();
  /** Pool positions that hold a pool offset. */
  readonly poolRefs: number[] = [];
  /** Named ports by id. */
  readonly names = new Map<string, number>();
  /** [policy, peersOff, peersCount, portsOff, portsCount] */
  readonly rules: number[][] = [];
  private readonly peerCache = new Map<string, number>();

  constructor(private readonly index: PolicyIndex) {}

  nameId(n: string): number {
    let id = this.names.get(n);
    if (id === undefined) this.names.set(n, (id = this.names.size));
    return id;
  }

  compileRule(policy: ParsedPolicy, rule: ParsedRule): number {
    const pool = this.pool;
    let peersOff = 0;
    let peersCount = -1;
    if (rule.peers) {
      const records: number[] = [];
      for (const peer of rule.peers) records.push(compilePeer(this.index, policy, peer, pool, this.peerCache));
      peersOff = pool.length;
      peersCount = records.length;
      for (const rec of records) this.poolRefs.push(pool.push(rec));
    }
    let portsOff = 0;
    let portsCount = -1;
    if (rule.ports) {
      portsOff = pool.length;
      portsCount = rule.ports.length;
      for (const p of rule.ports) {
        pool.push(PROTOCOL_NUMBERS[p.protocol]);
        if (typeof p.port === 'string') {
          pool.push(PORT_NAMED);
          pool.push(this.nameId(p.port));
          pool.push(0);
        } else {
          pool.push(PORT_RANGE);
          pool.push(p.port ?? 0);
          pool.push(p.port === undefined ? 65535 : (p.endPort ?? p.port));
        }
      }
    }
    this.rules.push([policy.index, peersOff, peersCount, portsOff, portsCount]);
    return this.rules.length - 1;
  }
}

/** Each directory's address hash, built at its first compile: a change of policies or namespaces copies it. */
const addressHashes = new WeakMap<PodDirectory, Int32Array>();

/** The address hash of every pod IP and node address, at most half full, as the buffer holds it. */
function addressHashOf(directory: PodDirectory): Int32Array {
  let hash = addressHashes.get(directory);
  if (hash !== undefined) return hash;
  const addressCount = directory.addressCount();
  let capacity = 8;
  while (capacity < addressCount * 2) capacity *= 2;
  hash = new Int32Array(capacity * ADDRESS_WORDS);
  for (let i = 0; i < capacity; i++) {
    hash[i * ADDRESS_WORDS + A_POD] = -1;
    hash[i * ADDRESS_WORDS + A_NODE] = -1;
  }
  directory.forEachAddress(new AddressHashWriter(hash, capacity));
  addressHashes.set(directory, hash);
  return hash;
}

/** Writes each address into the open-addressing hash (linear probing, at most half full). */
class AddressHashWriter implements AddressVisitor {
  constructor(
    private readonly hash: Int32Array,
    private readonly capacity: number,
  ) {}

  address(a0: number, a1: number, a2: number, a3: number, pod: number, node: number): void {
    const { hash } = this;
    const mask = this.capacity - 1;
    let i = addressHash(a0, a1, a2, a3) & mask;
    while (hash[i * ADDRESS_WORDS + A_POD] >= 0 || hash[i * ADDRESS_WORDS + A_NODE] >= 0) i = (i + 1) & mask;
    const s = i * ADDRESS_WORDS;
    hash[s + A_ADDR] = a0;
    hash[s + A_ADDR + 1] = a1;
    hash[s + A_ADDR + 2] = a2;
    hash[s + A_ADDR + 3] = a3;
    hash[s + A_POD] = pod;
    hash[s + A_NODE] = node;
  }
}

/** A peer's record in the pool (its offset there); identical pod peers share one record. */
function compilePeer(index: PolicyIndex, policy: ParsedPolicy, peer: ParsedPeer, pool: Words, cache: Map<string, number>): number {
  if (peer.kind === 'ipBlock') {
    const at = pool.push(PEER_IP_BLOCK);
    pool.push(peer.cidr.family);
    pushPrefix(pool, peer.cidr);
    pool.push(peer.except.length);
    for (const e of peer.except) pushPrefix(pool, e);
    return at;
  }
  if (peer.kind === 'invalid') {
    // Names nobody. Not reached today: a rule with an invalid peer is invalid and left out.
    const at = pool.push(PEER_POD_LIST);
    pool.push(0);
    return at;
  }
  const key = index.peerKey(policy, peer);
  const cached = cache.get(key);
  if (cached !== undefined) return cached;
  const members = index.peerMembers(policy, peer);
  const bitsetWords = (index.pods.length + 31) >>> 5;
  let at: number;
  if (members.length <= bitsetWords) {
    at = pool.push(PEER_POD_LIST);
    pool.push(members.length);
    for (const m of members) pool.push(m);
  } else {
    at = pool.push(PEER_POD_BITS);
    pool.push(bitsetWords);
    const start = pool.length;
    for (let k = 0; k < bitsetWords; k++) pool.push(0);
    for (const m of members) pool.data[start + (m >>> 5)] |= 1 << (m & 31);
  }
  cache.set(key, at);
  return at;
}

/** A flat rule-id list's room from per-pod counts in starts[1..]: turns them into start offsets (starts[i] .. starts[i + 1]). */
function ruleListsOf(starts: Int32Array): Int32Array {
  for (let i = 1; i < starts.length; i++) starts[i] += starts[i - 1];
  return new Int32Array(starts[starts.length - 1]);
}

function pushPrefix(pool: Words, p: MappedPrefix): void {
  pool.push(p.bits);
  for (let k = 0; k < 4; k++) pool.push(addressWord(p.addr, k));
}
