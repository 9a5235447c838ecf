// PolicyWorld → the compiled buffer the workers decide flows from (layout in
// src/datapath/policy/policy-layout.ts). Every pod with an IP cluster-wide gets its isolation
// and its own rule lists, since vxroute checks a remote pod's egress and ingress too. Rules are
// shared between the pods a policy selects; peers become pod sets (a sorted list or a bitset,
// whichever is smaller) or prefix lists; named ports stay names, resolved at decide() time on
// the destination pod's container ports (one small list per pod).
import { setImmediate as nextTurn } from 'node:timers/promises';
import {
  ADDRESS_WORDS, A_ADDR, A_NODE, A_POD, HEADER_WORDS, H_EGRESS_LISTS_OFF, H_GENERATION, H_HASH_MASK, H_HASH_OFF, H_INGRESS_LISTS_OFF, H_MAGIC,
  H_NAMED_PORTS_OFF, H_PODS_OFF, H_POD_COUNT, H_POLICY_COUNT, H_RULES_OFF, H_RULE_COUNT, H_TOTAL_WORDS, PEER_IP_BLOCK, PEER_POD_BITS, PEER_POD_LIST,
  POLICY_MAGIC, PORT_NAMED, PORT_RANGE, PORT_WORDS, RULE_WORDS, R_PEERS_COUNT, R_PEERS_OFF, R_POLICY, R_PORTS_COUNT, R_PORTS_OFF,
  addressHash, addressWord, podArrayOffsets,
} from '../datapath/policy/policy-layout.js';
import type { MappedPrefix } from './mapped-address.js';
import { addressHashOf } from './address-hash.js';
import type { Direction, ParsedPeer, ParsedPolicy, ParsedRule, PolicyProblem } from './parsed-policy.js';
import { patchedLists, type PerPodLists } from './per-pod-lists.js';
import { PolicyIndex } from './policy-index.js';
import { PROTOCOL_NUMBERS } from './reference.js';
import { ruleListsOf, type RuleApplication, type RuleLists } from './rule-lists.js';
import type { PolicyPod, PolicyWorld } from './world.js';

export interface CompiledPolicyBuffer {
  /** Immutable once built: post it to the workers, build a CompiledPolicy from it there. */
  sab: SharedArrayBuffer;
  /** reason() → "namespace/name". */
  policyNames: string[];
  /** Invalid policies and rules, and named ports no pod has: log each by its policy's name. */
  problems: PolicyProblem[];
}

/** `slots`: each slot's pod (VACANT: none), as a PolicyCompiler placed them (PolicyCompiler.slots()); else the pods in world order. */
export function compilePolicy(world: PolicyWorld, generation: number, slots?: readonly PolicyPod[]): CompiledPolicyBuffer {
  return compilePolicyIndex(new PolicyIndex(world, undefined, slots), generation);
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
  private kept: KeptFromCompile = {};

  compile(world: PolicyWorld, generation: number): CompiledPolicyBuffer {
    const index = new PolicyIndex(world, this.previous);
    this.previous = index;
    return compilePolicyIndex(index, generation, this.kept);
  }

  /** Each slot's pod in the last world compiled (VACANT: none): the pod indices of its buffer. */
  slots(): readonly PolicyPod[] {
    return this.previous?.pods ?? [];
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
    compilePolicyIndex(new PolicyIndex({ ...last.world, policies }, last), 0, { ...this.kept });
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
  data = new Int32Array(1 << 16);
  length = 0;
  push(v: number): number {
    if (this.length === this.data.length) this.grow(1);
    this.data[this.length] = v;
    return this.length++;
  }

  /** Appends `words` in one copy; returns where they start. */
  append(words: Int32Array): number {
    if (this.length + words.length > this.data.length) this.grow(words.length);
    const at = this.length;
    this.data.set(words, at);
    this.length += words.length;
    return at;
  }

  private grow(more: number): void {
    let size = this.data.length * 2;
    while (size < this.length + more) size *= 2;
    const bigger = new Int32Array(size);
    bigger.set(this.data.subarray(0, this.length));
    this.data = bigger;
  }
}

// A change compiles in code V8 may have thrown away (a major GC drops the optimized compile, a
// quiet spell flushes its bytecode): so each part of the buffer that does not depend on the
// change is kept from the compile before as words, and copied in one TypedArray.set. Rules keep
// their ipBlock and port words by ParsedRule (a kept policy keeps its rule objects), pod peers
// their record by pod set (a kept index keeps its pod sets), pods their nodes, addresses and
// named-port words by directory placement (and named-port ids).

/** What a PolicyCompiler keeps from one compile for the next. */
export interface KeptFromCompile {
  ruleLists?: RuleLists;
}

/** `kept`: what the compile before left, read and then replaced by this compile's. */
export function compilePolicyIndex(index: PolicyIndex, generation: number, kept?: KeptFromCompile): CompiledPolicyBuffer {
  const podCount = index.pods.length;
  const r = new RuleCompiler(index);
  const { pool, rules, names } = r;

  // Each policy's rules, in policy order, and the pods they apply to.
  const applications: RuleApplication[] = [];
  for (const policy of index.policies) {
    const selected = index.selectedPods(policy);
    if (selected.length === 0) continue;
    for (const dir of ['ingress', 'egress'] as const) {
      if (!policy.isolates[dir]) continue;
      // An invalid rule allows nothing: it is left out; the policy still isolates. A policy's rules get consecutive ids.
      const first = rules.length;
      for (const rule of policy.rules[dir]) if (rule.valid) r.compileRule(policy, rule);
      applications.push({ dir, policy: policy.index, pods: selected, first, count: rules.length - first });
    }
  }
  const ruleLists = ruleListsOf(applications, podCount, kept?.ruleLists, index.changedSlots);
  if (kept) kept.ruleLists = ruleLists;
  const { isolatedBy, list: lists } = ruleLists;
  const listStart = ruleLists.start;
  const named = namedPortsOf(index, names);

  // The pool: rules' peers and ports, the rule lists (one block per direction), the named ports
  // policies refer to (per pod).
  const hash = addressHashOf(index.directory);
  const capacity = hash.length / ADDRESS_WORDS;
  const hashOff = HEADER_WORDS;
  const podsOff = hashOff + hash.length;
  const podArrays = podArrayOffsets(podCount);
  const rulesOff = podsOff + podArrays.words;
  const poolOff = rulesOff + rules.length * RULE_WORDS;
  const ingressListsOff = poolOff + pool.length;
  const egressListsOff = ingressListsOff + lists.ingress.length;
  const namedOff = egressListsOff + lists.egress.length;
  const total = namedOff + named.words.length;
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
  w[H_INGRESS_LISTS_OFF] = ingressListsOff;
  w[H_EGRESS_LISTS_OFF] = egressListsOff;
  w[H_NAMED_PORTS_OFF] = namedOff;

  w.set(hash, hashOff);
  w.set(nodesOf(index), podsOff + podArrays.node);
  w.set(isolatedBy.ingress, podsOff + podArrays.ingressIsolatedBy);
  w.set(isolatedBy.egress, podsOff + podArrays.egressIsolatedBy);
  w.set(listStart.ingress, podsOff + podArrays.ingressStarts);
  w.set(listStart.egress, podsOff + podArrays.egressStarts);
  w.set(named.starts, podsOff + podArrays.namedPortStarts);
  for (let i = 0, at = rulesOff; i < rules.length; i++, at += RULE_WORDS) {
    const k = i * RULE_WORDS;
    w[at + R_POLICY] = rules.words[k + R_POLICY];
    w[at + R_PEERS_OFF] = rules.words[k + R_PEERS_OFF] + poolOff;
    w[at + R_PEERS_COUNT] = rules.words[k + R_PEERS_COUNT];
    w[at + R_PORTS_OFF] = rules.words[k + R_PORTS_OFF] + poolOff;
    w[at + R_PORTS_COUNT] = rules.words[k + R_PORTS_COUNT];
  }
  w.set(pool.data.subarray(0, pool.length), poolOff);
  const refs = r.poolRefs;
  for (let k = 0; k < refs.length; k++) w[poolOff + refs.data[k]] += poolOff;
  w.set(lists.ingress, ingressListsOff);
  w.set(lists.egress, egressListsOff);
  w.set(named.words, namedOff);

  return { sab, policyNames: index.policies.map((p) => `${p.namespace}/${p.name}`), problems: index.problems };
}

// The compile's helpers are methods of classes, not closures made per compile: V8 inlines a
// closure into the optimized compile and throws that code away when the next compile brings a new
// closure ("wrong call target"), so the first changes after start ran unoptimized (100-200 ms
// each instead of 10-20).

/** What a rule compiles to apart from its pod peers, kept by rule object (see compilePolicyIndex). */
interface RuleWords {
  /** Per peer: its record's words (ipBlock, invalid), or undefined for a pods peer (a shared record, by pod set). */
  peers: Array<Int32Array | undefined> | undefined;
  /** PORT_WORDS per port; a named port's name id is filled in per compile from `portNames`. */
  ports: Int32Array | undefined;
  /** Per port: the name of a named port, else undefined. */
  portNames: Array<string | undefined>;
}

const ruleWords = new WeakMap<ParsedRule, RuleWords>();

function ruleWordsOf(rule: ParsedRule): RuleWords {
  let words = ruleWords.get(rule);
  if (words !== undefined) return words;
  const portNames: Array<string | undefined> = [];
  let ports: Int32Array | undefined;
  if (rule.ports) {
    ports = new Int32Array(rule.ports.length * PORT_WORDS);
    rule.ports.forEach((p, k) => {
      const at = k * PORT_WORDS;
      ports![at] = PROTOCOL_NUMBERS[p.protocol];
      if (typeof p.port === 'string') {
        ports![at + 1] = PORT_NAMED;
        portNames.push(p.port);
      } else {
        ports![at + 1] = PORT_RANGE;
        ports![at + 2] = p.port ?? 0;
        ports![at + 3] = p.port === undefined ? 65535 : (p.endPort ?? p.port);
        portNames.push(undefined);
      }
    });
  }
  words = { peers: rule.peers?.map(peerWordsOf), ports, portNames };
  ruleWords.set(rule, words);
  return words;
}

/** An ipBlock's or invalid peer's record; undefined for a pods peer. */
function peerWordsOf(peer: ParsedPeer): Int32Array | undefined {
  if (peer.kind === 'ipBlock') {
    const words = [PEER_IP_BLOCK, peer.cidr.family];
    pushPrefix(words, peer.cidr);
    words.push(peer.except.length);
    for (const e of peer.except) pushPrefix(words, e);
    return Int32Array.from(words);
  }
  // Names nobody. Not reached today: a rule with an invalid peer is invalid and left out.
  if (peer.kind === 'invalid') return Int32Array.of(PEER_POD_LIST, 0);
  return undefined;
}

/** Rules, each compiled once and shared by every pod its policy selects, into one word pool. */
class RuleCompiler {
  /** Offsets relative to the pool; fixed up when the pool's place is known. */
  readonly pool = new Words();
  /** Pool positions that hold a pool offset. */
  readonly poolRefs = new Words();
  /** Named ports by id. */
  readonly names = new Map<string, number>();
  /** RULE_WORDS per rule, offsets relative to the pool. */
  readonly rules = new RuleList();
  /** Each pods peer's record in the pool, by peerKey: identical pod peers share one record. */
  private readonly peerAt = new Map<string, number>();
  private readonly records: number[] = [];

  constructor(private readonly index: PolicyIndex) {}

  nameId(n: string): number {
    let id = this.names.get(n);
    if (id === undefined) this.names.set(n, (id = this.names.size));
    return id;
  }

  compileRule(policy: ParsedPolicy, rule: ParsedRule): void {
    const pool = this.pool;
    const words = ruleWordsOf(rule);
    let peersOff = 0;
    let peersCount = -1;
    if (rule.peers) {
      const records = this.records;
      records.length = 0;
      for (let k = 0; k < rule.peers.length; k++) {
        const own = words.peers![k];
        records.push(own === undefined ? this.podsPeer(policy, rule.peers[k] as PodsPeer) : pool.append(own));
      }
      peersOff = pool.length;
      peersCount = records.length;
      for (const rec of records) this.poolRefs.push(pool.push(rec));
    }
    let portsOff = 0;
    let portsCount = -1;
    if (words.ports) {
      portsOff = pool.append(words.ports);
      portsCount = words.portNames.length;
      for (let k = 0; k < portsCount; k++) {
        const name = words.portNames[k];
        if (name !== undefined) pool.data[portsOff + k * PORT_WORDS + 2] = this.nameId(name);
      }
    }
    this.rules.add(policy.index, peersOff, peersCount, portsOff, portsCount);
  }

  /** A pods peer's record in the pool: written at its first use in this compile, from the words kept for its pod set. */
  private podsPeer(policy: ParsedPolicy, peer: PodsPeer): number {
    const key = this.index.peerKey(policy, peer);
    let at = this.peerAt.get(key);
    if (at === undefined) this.peerAt.set(key, (at = this.pool.append(podSetRecord(this.index.peerMembers(policy, peer), this.index.pods.length))));
    return at;
  }
}

/** The rules' words, RULE_WORDS each. */
class RuleList {
  words = new Int32Array(1024 * RULE_WORDS);
  length = 0;

  add(policy: number, peersOff: number, peersCount: number, portsOff: number, portsCount: number): void {
    let at = this.length * RULE_WORDS;
    if (at === this.words.length) {
      const bigger = new Int32Array(this.words.length * 2);
      bigger.set(this.words);
      this.words = bigger;
    }
    this.words[at++] = policy;
    this.words[at++] = peersOff;
    this.words[at++] = peersCount;
    this.words[at++] = portsOff;
    this.words[at] = portsCount;
    this.length++;
  }
}

type PodsPeer = ParsedPeer & { kind: 'pods' };

/** Each pod set's record, by the set (an index keeps its pod sets while nothing they depend on changed), for a bitset size. */
const podSetRecords = new WeakMap<readonly number[], { bitsetWords: number; words: Int32Array }>();

/** A pod set's record: a sorted list or a bitset, whichever is smaller. */
function podSetRecord(members: readonly number[], podCount: number): Int32Array {
  const bitsetWords = (podCount + 31) >>> 5;
  const kept = podSetRecords.get(members);
  if (kept !== undefined && kept.bitsetWords === bitsetWords) return kept.words;
  let words: Int32Array;
  if (members.length <= bitsetWords) {
    words = new Int32Array(2 + members.length);
    words[0] = PEER_POD_LIST;
    words[1] = members.length;
    words.set(members, 2);
  } else {
    words = new Int32Array(2 + bitsetWords);
    words[0] = PEER_POD_BITS;
    words[1] = bitsetWords;
    for (const m of members) words[2 + (m >>> 5)] |= 1 << (m & 31);
  }
  podSetRecords.set(members, { bitsetWords, words });
  return words;
}

/** Each directory placement's named-port words (every pod's named container ports that policies refer to), for the named-port ids they were built with. */
const namedPortWords = new WeakMap<object, { ids: string; named: PerPodLists }>();

function namedPortsOf(index: PolicyIndex, names: Map<string, number>): PerPodLists {
  const { directory } = index;
  const ids = [...names.keys()].join('\n');
  const kept = namedPortWords.get(directory.placement);
  if (kept !== undefined && kept.ids === ids) return kept.named;
  const podCount = index.pods.length;
  const before = directory.placedFrom === undefined ? undefined : namedPortWords.get(directory.placedFrom);
  let named: PerPodLists;
  if (before !== undefined && before.ids === ids && index.changedSlots !== undefined) {
    named = patchedLists(before.named, podCount, index.changedSlots, index.changedSlots.map((slot) => namedPortWordsOf(index.pods[slot], names)));
  } else {
    const starts = new Int32Array(podCount + 1);
    const words: number[] = [];
    for (let i = 0; i < podCount; i++) {
      starts[i] = words.length;
      if (names.size > 0) for (const v of namedPortWordsOf(index.pods[i], names)) words.push(v);
    }
    starts[podCount] = words.length;
    named = { words: Int32Array.from(words), starts };
  }
  namedPortWords.set(directory.placement, { ids, named });
  return named;
}

/** A pod's named ports that policies refer to, NAMED_PORT_WORDS each. */
function namedPortWordsOf(pod: PolicyPod, names: Map<string, number>): number[] {
  const words: number[] = [];
  for (const port of pod.ports) {
    const id = port.name === undefined ? undefined : names.get(port.name);
    if (id !== undefined) words.push(id, PROTOCOL_NUMBERS[port.protocol], port.port);
  }
  return words;
}

/** Each directory placement's pods' nodes, as indices in nodeNames. */
const podNodes = new WeakMap<object, Int32Array>();

function nodesOf(index: PolicyIndex): Int32Array {
  const { directory } = index;
  let nodes = podNodes.get(directory.placement);
  if (nodes !== undefined) return nodes;
  nodes = new Int32Array(directory.pods.length);
  const before = directory.placedFrom === undefined ? undefined : podNodes.get(directory.placedFrom);
  if (before !== undefined && index.changedSlots !== undefined) {
    nodes.set(before);
    for (const slot of index.changedSlots) nodes[slot] = directory.podNode(slot);
  } else for (let i = 0; i < nodes.length; i++) nodes[i] = directory.podNode(i);
  podNodes.set(directory.placement, nodes);
  return nodes;
}

function pushPrefix(words: number[], p: MappedPrefix): void {
  words.push(p.bits);
  for (let k = 0; k < 4; k++) words.push(addressWord(p.addr, k));
}
