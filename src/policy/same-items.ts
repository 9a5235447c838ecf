// Whether two lists hold the very same objects in the same order: how the policy compiler tells
// which parts of a world changed (the world's objects are never changed in place, only replaced).
export function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
