// Which rules apply to each pod, per direction: the first policy isolating it and its rule ids in
// policy order, as CSR (per pod a start in one flat list of rule ids). Built from the policies'
// applications (a policy's rules, consecutive ids, applied to the pods it selects); kept whole
// from the compile before when every application is the same (a policy edited without changing
// whom it selects or how many rules it has, a namespace or a label change that moved no pod in or
// out of a selection), since building them walks every selected pod of every policy; patched for
// the pods that changed when the applications differ in those pods alone (a pod added, deleted or
// relabelled: every other pod keeps its slot, so its list is copied).
import type { Direction } from './parsed-policy.js';
import { patchedLists } from './per-pod-lists.js';
import { sameItems } from './same-items.js';

/** One policy's rules in one direction, applied to the pods it selects. */
export interface RuleApplication {
  dir: Direction;
  policy: number;
  /** Selected pods, ascending. */
  pods: readonly number[];
  /** Its rules' ids: first .. first + count − 1 (count 0: it isolates, allows nothing). */
  first: number;
  count: number;
}

export interface RuleLists {
  applications: readonly RuleApplication[];
  podCount: number;
  /** Per pod: the first policy isolating it, −1 when none. */
  isolatedBy: Record<Direction, Int32Array>;
  /** Per pod i: its rule ids are list[start[i]] .. list[start[i + 1] − 1]. */
  start: Record<Direction, Int32Array>;
  list: Record<Direction, Int32Array>;
}

/**
 * The rule lists of `applications` (in policy order): `before`'s when it was built from the same;
 * `before`'s patched when they differ only in the pods of the `changed` slots (ascending; the
 * slots whose pod changed since `before`, undefined when unknown).
 */
export function ruleListsOf(applications: readonly RuleApplication[], podCount: number, before: RuleLists | undefined, changed?: readonly number[]): RuleLists {
  if (before !== undefined && before.podCount === podCount && sameApplications(before.applications, applications)) return before;
  if (before !== undefined && changed !== undefined && podCount >= before.podCount && sameApplications(before.applications, applications, changed)) return patched(before, applications, podCount, changed);
  const isolatedBy: Record<Direction, Int32Array> = { ingress: new Int32Array(podCount).fill(-1), egress: new Int32Array(podCount).fill(-1) };
  const start: Record<Direction, Int32Array> = { ingress: new Int32Array(podCount + 1), egress: new Int32Array(podCount + 1) };
  for (const a of applications) {
    const by = isolatedBy[a.dir];
    const starts = start[a.dir];
    for (const pod of a.pods) {
      if (by[pod] < 0) by[pod] = a.policy;
      starts[pod + 1] += a.count;
    }
  }
  const list: Record<Direction, Int32Array> = { ingress: flatListOf(start.ingress), egress: flatListOf(start.egress) };
  const cursor: Record<Direction, Int32Array> = { ingress: start.ingress.slice(0, podCount), egress: start.egress.slice(0, podCount) };
  for (const { dir, pods, first, count } of applications) {
    if (count === 0) continue;
    const l = list[dir];
    const at = cursor[dir];
    for (const pod of pods) for (let k = 0; k < count; k++) l[at[pod]++] = first + k;
  }
  return { applications, podCount, isolatedBy, start, list };
}

/** `before`'s lists with those of the `changed` slots found again from `applications`. */
function patched(before: RuleLists, applications: readonly RuleApplication[], podCount: number, changed: readonly number[]): RuleLists {
  const isolatedBy: Record<Direction, Int32Array> = { ingress: widened(before.isolatedBy.ingress, podCount), egress: widened(before.isolatedBy.egress, podCount) };
  const lists: Record<Direction, number[][]> = { ingress: [], egress: [] };
  for (const pod of changed) {
    isolatedBy.ingress[pod] = -1;
    isolatedBy.egress[pod] = -1;
    const ingress: number[] = [];
    const egress: number[] = [];
    for (const a of applications) {
      if (!includes(a.pods, pod)) continue;
      const by = isolatedBy[a.dir];
      if (by[pod] < 0) by[pod] = a.policy;
      const l = a.dir === 'ingress' ? ingress : egress;
      for (let k = 0; k < a.count; k++) l.push(a.first + k);
    }
    lists.ingress.push(ingress);
    lists.egress.push(egress);
  }
  const ingress = patchedLists({ starts: before.start.ingress, words: before.list.ingress }, podCount, changed, lists.ingress);
  const egress = patchedLists({ starts: before.start.egress, words: before.list.egress }, podCount, changed, lists.egress);
  return { applications, podCount, isolatedBy, start: { ingress: ingress.starts, egress: egress.starts }, list: { ingress: ingress.words, egress: egress.words } };
}

/** A copy of a per-pod array for `podCount` slots, −1 in the new ones. */
function widened(a: Int32Array, podCount: number): Int32Array {
  const out = new Int32Array(podCount).fill(-1);
  out.set(a);
  return out;
}

/**
 * Whether both lists apply the same rules of the same policies to the same pods, but for the
 * pods of the `changed` slots (ascending) when given.
 */
function sameApplications(a: readonly RuleApplication[], b: readonly RuleApplication[], changed?: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x.dir !== y.dir || x.policy !== y.policy || x.first !== y.first || x.count !== y.count) return false;
    if (x.pods !== y.pods && !(changed === undefined ? sameItems(x.pods, y.pods) : sameBut(x.pods, y.pods, changed))) return false;
  }
  return true;
}

/** Whether two ascending lists hold the same numbers but for some of `except` (ascending). */
function sameBut(a: readonly number[], b: readonly number[], except: readonly number[]): boolean {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      i++;
      j++;
    } else if (j >= b.length || (i < a.length && a[i] < b[j])) {
      if (!includes(except, a[i++])) return false;
    } else if (!includes(except, b[j++])) return false;
  }
  return true;
}

/** Binary search in an ascending list. */
function includes(list: readonly number[], v: number): boolean {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid] === v) return true;
    if (list[mid] < v) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/** A flat rule-id list's room from per-pod counts in starts[1..]: turns them into start offsets (starts[i] .. starts[i + 1]). */
function flatListOf(starts: Int32Array): Int32Array {
  for (let i = 1; i < starts.length; i++) starts[i] += starts[i - 1];
  return new Int32Array(starts[starts.length - 1]);
}
