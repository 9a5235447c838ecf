// Where `vxroute run` spends its start: the end of each phase in ms since the process started
// (performance.now() counts from the process's time origin), logged with 'ready'.
export class StartPhases {
  readonly ends: Record<string, number> = {};

  /** Marks the end of `phase` now; a phase that ends twice keeps its first end. */
  end(phase: string): void {
    this.ends[phase] ??= Math.round(performance.now());
  }
}
