// A shard's loop has begun: the message a shard posts once, after its first memory report, so
// that the main thread's 'ready' is the daemon as it runs (every worker's isolate made, its
// modules loaded, its policy stage warmed), not a daemon whose workers are still starting.

export interface ShardRunning {
  type: 'shard-running';
  worker: number;
}

export function isShardRunning(message: unknown): message is ShardRunning {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'shard-running';
}
