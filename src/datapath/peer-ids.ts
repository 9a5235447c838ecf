// Stable counter slots for peer nodes: a node keeps its id while it stays in the table, so its
// counters survive table updates. Ids of removed nodes are reused, oldest first, only when no
// fresh id is left; their counters are then zeroed by the caller.
export class PeerIds {
  private readonly ids = new Map<string, number>();
  private readonly freed: number[] = [];
  private next = 0;

  constructor(readonly capacity: number) {}

  /** Assigns ids to `names` and releases those of nodes no longer present; returns ids reused. */
  update(names: Iterable<string>): { reused: number[] } {
    const keep = new Set(names);
    for (const [name, id] of this.ids) {
      if (!keep.has(name)) {
        this.ids.delete(name);
        this.freed.push(id);
      }
    }
    const reused: number[] = [];
    for (const name of keep) {
      if (this.ids.has(name)) continue;
      let id: number;
      if (this.next < this.capacity) id = this.next++;
      else if (this.freed.length > 0) reused.push((id = this.freed.shift()!));
      else throw new RangeError(`more than ${this.capacity} peer nodes`);
      this.ids.set(name, id);
    }
    return { reused };
  }

  get(name: string): number | undefined {
    return this.ids.get(name);
  }

  entries(): IterableIterator<[string, number]> {
    return this.ids.entries();
  }
}
