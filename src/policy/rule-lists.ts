// Which rules apply to each pod, per direction: the first policy isolating it and its rule ids in
// policy order, as CSR (per pod a start in one flat list of rule ids). Built from the policies'
// applications (a policy's rules, consecutive ids, applied to the pods it selects); kept whole
// from the compile before when every application is the same (a policy edited without changing
// whom it selects or how many rules it has, a namespace or a label change that moved no pod in or
// out of a selection), since building them walks every selected pod of every policy.
import type { Direction } from './parsed-policy.js';
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

/** The rule lists of `applications` (in policy order), `before`'s when it was built from the same. */
export function ruleListsOf(applications: readonly RuleApplication[], podCount: number, before: RuleLists | undefined): RuleLists {
  if (before !== undefined && before.podCount === podCount && sameApplications(before.applications, applications)) return before;
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

function sameApplications(a: readonly RuleApplication[], b: readonly RuleApplication[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x.dir !== y.dir || x.policy !== y.policy || x.first !== y.first || x.count !== y.count) return false;
    if (x.pods !== y.pods && !sameItems(x.pods, y.pods)) return false;
  }
  return true;
}

/** A flat rule-id list's room from per-pod counts in starts[1..]: turns them into start offsets (starts[i] .. starts[i + 1]). */
function flatListOf(starts: Int32Array): Int32Array {
  for (let i = 1; i < starts.length; i++) starts[i] += starts[i - 1];
  return new Int32Array(starts[starts.length - 1]);
}
