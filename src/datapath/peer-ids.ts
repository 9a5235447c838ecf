// Stable counter slots for peer nodes: a node keeps its id while it stays in the table, so its
// counters survive table updates. Ids of removed nodes are reused, oldest first, only when no
// fresh id is left; their counters are then zeroed by the caller.
export class PeerIds {
  private readonly ids = new Map<string, number>();
  /** The node holding each id, for trace and FDB rows that name a peer by its id. */
  private readonly names: (string | undefined)[];
  private readonly freed: number[] = [];
  private next = 0;

  constructor(readonly capacity: number) {
    this.names = new Array<string | undefined>(capacity).fill(undefined);
  }

  /** Assigns ids to `names` and releases those of nodes no longer present; returns ids reused and released. */
  update(names: Iterable<string>): { reused: number[]; released: number[] } {
    const keep = new Set(names);
    const released: number[] = [];
    for (const name of this.ids.keys()) if (!keep.has(name)) released.push(this.release(name)!);
    const reused: number[] = [];
    for (const name of keep) this.assign(name, reused);
    return { reused, released };
  }

  /** The id of `name`, given now unless it has one; an id that was another node's is pushed to `reused`. */
  assign(name: string, reused: number[]): number {
    const had = this.ids.get(name);
    if (had !== undefined) return had;
    let id: number;
    if (this.next < this.capacity) id = this.next++;
    else if (this.freed.length > 0) reused.push((id = this.freed.shift()!));
    else throw new RangeError(`more than ${this.capacity} peer nodes`);
    this.ids.set(name, id);
    this.names[id] = name;
    return id;
  }

  /** Frees the id of `name` for a later node; returns it (undefined: it had none). */
  release(name: string): number | undefined {
    const id = this.ids.get(name);
    if (id === undefined) return undefined;
    this.ids.delete(name);
    this.names[id] = undefined;
    this.freed.push(id);
    return id;
  }

  get(name: string): number | undefined {
    return this.ids.get(name);
  }

  /** The node that holds `id` now (undefined: none, or not an id). */
  name(id: number): string | undefined {
    return this.names[id];
  }

  entries(): IterableIterator<[string, number]> {
    return this.ids.entries();
  }
}
