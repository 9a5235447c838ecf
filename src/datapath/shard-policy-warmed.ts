// A shard's policy stage is warm: the message a shard posts once its policy warm-up with a policy
// that knows pods has ended (at start, or sliced between batches after it adopts the first such
// policy: policy-warm-up.ts), so that a bench can wait for the warm daemon before it measures.

export interface ShardPolicyWarmed {
  type: 'shard-policy-warmed';
  worker: number;
}

export function isShardPolicyWarmed(message: unknown): message is ShardPolicyWarmed {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'shard-policy-warmed';
}
