// A compiled policy taking effect on the shards: the message a shard posts when it starts
// deciding with a newly published generation, and the main thread's fold of those messages into
// "in force on every worker", so that a change is reported once, with the time the last one took it.

export interface PolicyAdopted {
  type: 'policy-adopted';
  worker: number;
  generation: number;
  /** Date.now() in the worker when it switched to this generation. */
  at: number;
}

export function isPolicyAdopted(message: unknown): message is PolicyAdopted {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'policy-adopted';
}

export interface PolicyInForce {
  generation: number;
  /** Date.now() when the last worker switched to it (or to a newer one). */
  at: number;
}

export class PolicyAdoption {
  /** Per worker, the newest generation it decides with and when it switched to it. */
  private readonly generations: number[];
  private readonly ats: number[];
  private reported: number;

  /** `initial`: the generation every worker starts with. */
  constructor(workers: number, initial: number) {
    this.generations = new Array<number>(workers).fill(initial);
    this.ats = new Array<number>(workers).fill(0);
    this.reported = initial;
  }

  /** Folds in one worker's switch; returns the generation now in force everywhere when that is newer than the last returned. */
  fold(m: PolicyAdopted): PolicyInForce | undefined {
    if (m.generation <= this.generations[m.worker]) return undefined;
    this.generations[m.worker] = m.generation;
    this.ats[m.worker] = m.at;
    const everywhere = Math.min(...this.generations);
    if (everywhere <= this.reported) return undefined;
    this.reported = everywhere;
    return { generation: everywhere, at: Math.max(...this.ats) };
  }
}
