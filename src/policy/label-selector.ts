// Label selectors as NetworkPolicy uses them (meta/v1 LabelSelector): matchLabels and
// matchExpressions are ANDed; an empty selector selects everything. Whether an absent selector
// means "all" or "none" depends on the field, so callers decide that, not this file.
import type { V1LabelSelector } from '@kubernetes/client-node';

/** A field of an API object and what is wrong with it, as the API server would say it. */
export interface FieldProblem {
  field: string;
  problem: string;
}

// Label syntax (apimachinery validation): name ≤ 63 chars, alphanumeric at both ends, '-', '_',
// '.' inside; a key may have a DNS subdomain prefix ≤ 253 chars before '/'; a value may be empty.
const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function keyProblem(key: unknown): string | undefined {
  if (typeof key !== 'string') return 'a label key must be a string';
  const slash = key.indexOf('/');
  const name = slash < 0 ? key : key.slice(slash + 1);
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return `"${key}": the prefix must be a DNS subdomain`;
  if (name.length === 0 || name.length > 63 || !NAME.test(name)) return `"${key}": a label name is 1-63 alphanumerics, '-', '_' or '.', alphanumeric at both ends`;
  return undefined;
}

function valueProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'a label value must be a string';
  if (value === '') return undefined;
  if (value.length > 63 || !NAME.test(value)) return `"${value}": a label value is at most 63 alphanumerics, '-', '_' or '.', alphanumeric at both ends`;
  return undefined;
}

/** Everything the API server would reject in `sel`, each under its field path below `field`. */
export function selectorProblems(sel: V1LabelSelector, field: string): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (sel === null || typeof sel !== 'object') return [{ field, problem: 'must be a label selector object' }];
  const labels = sel.matchLabels ?? {};
  if (typeof labels !== 'object' || labels === null) problems.push({ field: `${field}.matchLabels`, problem: 'must be a map of labels' });
  else {
    for (const [k, v] of Object.entries(labels)) {
      const p = keyProblem(k) ?? valueProblem(v);
      if (p) problems.push({ field: `${field}.matchLabels`, problem: p });
    }
  }
  const exprs = sel.matchExpressions ?? [];
  if (!Array.isArray(exprs)) return [...problems, { field: `${field}.matchExpressions`, problem: 'must be a list' }];
  exprs.forEach((e, i) => {
    const f = `${field}.matchExpressions[${i}]`;
    const kp = keyProblem(e?.key);
    if (kp) problems.push({ field: `${f}.key`, problem: kp });
    const values = e?.values ?? [];
    if (!Array.isArray(values)) {
      problems.push({ field: `${f}.values`, problem: 'must be a list' });
      return;
    }
    switch (e?.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) problems.push({ field: `${f}.values`, problem: `must be non-empty when operator is ${e.operator}` });
        for (const v of values) {
          const vp = valueProblem(v);
          if (vp) problems.push({ field: `${f}.values`, problem: vp });
        }
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) problems.push({ field: `${f}.values`, problem: `must be empty when operator is ${e.operator}` });
        break;
      default:
        problems.push({ field: `${f}.operator`, problem: `"${String(e?.operator)}" is not a valid operator: use In, NotIn, Exists or DoesNotExist` });
    }
  });
  return problems;
}

/** Whether `labels` satisfy a VALID selector (check selectorProblems first). */
export function selectorMatches(sel: V1LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  const want = sel.matchLabels;
  if (want) for (const k in want) if (labels[k] !== want[k]) return false;
  const exprs = sel.matchExpressions;
  if (exprs) {
    for (const e of exprs) {
      const has = Object.prototype.hasOwnProperty.call(labels, e.key);
      switch (e.operator) {
        case 'In':
          if (!has || !e.values!.includes(labels[e.key])) return false;
          break;
        case 'NotIn': // a pod without the key is not in the set
          if (has && e.values!.includes(labels[e.key])) return false;
          break;
        case 'Exists':
          if (!has) return false;
          break;
        case 'DoesNotExist':
          if (has) return false;
          break;
        default:
          return false;
      }
    }
  }
  return true;
}
