// Steps of the start that run at once: each one's undo goes on the stack when it succeeds, so
// a failure is thrown only when none of them is still running (the undo then finds them all).

/** Waits for every step, then throws the first failure, or gives each one's value. */
export async function settleAll<T extends readonly unknown[]>(steps: readonly [...{ [K in keyof T]: Promise<T[K]> }]): Promise<T> {
  const settled = await Promise.allSettled(steps);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
