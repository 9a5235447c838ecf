// Where `vxroute run` spends its start: the end of each phase in ms since the process started
// (performance.now() counts from the process's time origin), logged with 'ready', and the CPU
// time spent so far (less noisy than wall time on a shared machine).
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's times (USER_HZ, 100 on every Linux architecture node runs on). */
const USER_HZ = 100;

export class StartPhases {
  readonly ends: Record<string, number> = {};

  /** Marks the end of `phase` now; a phase that ends twice keeps its first end. */
  end(phase: string): void {
    this.ends[phase] ??= Math.round(performance.now());
  }

  /**
   * CPU time in ms so far: ours (every thread, and node's start before the re-exec: exec keeps
   * the counters) and that of the children waited for (ip, nft), from /proc/self/stat.
   */
  cpuMs(): { own: number; children: number } {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // Fields after the command name in parentheses; utime, stime, cutime, cstime are the 14th to 17th.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    const ms = (ticks: number): number => (ticks * 1000) / USER_HZ;
    return { own: ms(f[11] + f[12]), children: ms(f[13] + f[14]) };
  }
}
