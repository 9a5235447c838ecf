// Main-thread side of the shards: starts one worker per TUN queue and stops them all.
import { Worker } from 'node:worker_threads';
import { addon } from '../native/addon.js';
import { isGsoChange, type GsoChange } from './gso-changes.js';
import { isPolicyAdopted, type PolicyAdopted } from './policy-adoption.js';
import { CONTROL_WORDS, ControlWord, type ShardConfig } from './shard-config.js';
import { isShardPolicyWarmed } from './shard-policy-warmed.js';
import { isShardRunning } from './shard-running.js';

const WORKER_ENTRY = new URL('../../workers/shard.js', import.meta.url);

export class ShardPool {
  private readonly control = new SharedArrayBuffer(CONTROL_WORDS * 4);
  private readonly workers: Worker[] = [];
  private readonly wakeFds: number[] = [];
  /** Settles when every worker has exited; rejects with the first worker's error. */
  readonly exited: Promise<void>;
  /** Settles when every worker has entered its loop (its first memory report written); rejects when one exits first. */
  readonly running: Promise<void>;
  /** Settles when every worker's policy stage has been warmed with a policy that knows pods (never with the policy off). */
  readonly policyWarmed: Promise<void>;
  private stopping = false;

  /** `onGsoChange`: a shard's socket switched UDP GSO on or off; `onPolicyAdopted`: a shard switched to a newly published policy. */
  constructor(configs: Omit<ShardConfig, 'control' | 'wakeFd'>[], onGsoChange: (change: GsoChange) => void, onPolicyAdopted: (m: PolicyAdopted) => void = () => undefined) {
    const exits: Promise<void>[] = [];
    const runs: Promise<void>[] = [];
    const warms: Promise<void>[] = [];
    for (const cfg of configs) {
      const wakeFd = addon.eventfdOpen();
      this.wakeFds.push(wakeFd);
      const transferList = cfg.policy ? [cfg.policy.updates] : [];
      const worker = new Worker(WORKER_ENTRY, { workerData: { ...cfg, wakeFd, control: this.control } satisfies ShardConfig, transferList });
      this.workers.push(worker);
      let onRunning!: () => void;
      runs.push(new Promise<void>((resolve) => (onRunning = resolve)));
      let onWarmed!: () => void;
      warms.push(new Promise<void>((resolve) => (onWarmed = resolve)));
      worker.on('message', (message: unknown) => {
        if (isShardRunning(message)) onRunning();
        else if (isShardPolicyWarmed(message)) onWarmed();
        else if (isGsoChange(message)) onGsoChange(message);
        else if (isPolicyAdopted(message)) onPolicyAdopted(message);
      });
      exits.push(
        new Promise<void>((resolve, reject) => {
          worker.once('error', reject);
          worker.once('exit', (code) => {
            if (code === 0 && this.stopping) resolve();
            else reject(new Error(`shard ${cfg.index} exited with code ${code}`));
          });
        }),
      );
    }
    this.exited = Promise.all(exits).then(() => undefined);
    this.exited.catch(() => undefined); // observed by the owner through `exited`
    const exitedFirst = Promise.race(exits).then(() => Promise.reject(new Error('a shard exited before it ran')));
    this.running = Promise.race([Promise.all(runs).then(() => undefined), exitedFirst]);
    this.running.catch(() => undefined); // observed by the owner through `running`
    this.policyWarmed = Promise.all(warms).then(() => undefined);
  }

  /** Wakes every shard, e.g. so that idle shards adopt a new table at once. */
  wake(): void {
    for (const fd of this.wakeFds) addon.eventfdSignal(fd);
  }

  /** Tells the shards that a compiled policy waits on their update ports, and wakes the idle ones. */
  announcePolicy(): void {
    Atomics.add(new Int32Array(this.control), ControlWord.policy, 1);
    this.wake();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    Atomics.store(new Int32Array(this.control), ControlWord.stop, 1);
    this.wake();
    await this.exited.catch(() => undefined);
    for (const fd of this.wakeFds) addon.close(fd);
  }
}
