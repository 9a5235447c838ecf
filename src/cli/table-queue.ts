// Table changes reach the host and the datapath through one ordered queue, as flannel's single
// event loop hands them over: one change is applied at a time, and the tables that arrive
// meanwhile collapse into the newest, applied next. So no older, slower change can land after
// a newer one, and the newest is never lost. The nodes each table changed are carried with it:
// a table that collapses into a newer one adds its changed nodes to the newer one's, and after a
// table that failed, the next is applied as if its changes were unknown (the one before it was
// not applied everywhere).
import type { SubnetTable } from '../subnets/subnet-table.js';

/** `changed`: the nodes added, replaced or removed since the table applied before; undefined: not known. */
export type ApplyTable = (table: SubnetTable, why: string, changed: ReadonlySet<string> | undefined) => Promise<void>;

export class TableQueue {
  private apply: ApplyTable | undefined;
  private next: { table: SubnetTable; why: string; changed: Set<string> | undefined } | undefined;
  /** The last apply failed: what the next table changed is measured from a table not applied. */
  private lost = false;
  private busy = false;
  private closed = false;
  private idle: Promise<void> = Promise.resolve();

  constructor(private readonly onError: (err: unknown, why: string) => void) {}

  /** Takes a table; it waits while another is applied, and gives way to a newer one. */
  push(table: SubnetTable, why: string, changed?: ReadonlySet<string>): void {
    if (this.closed) return;
    const waiting = this.next;
    let all: Set<string> | undefined;
    if (changed && (!waiting || waiting.changed)) {
      all = waiting?.changed ?? new Set();
      for (const name of changed) all.add(name);
    }
    this.next = { table, why, changed: all };
    this.kick();
  }

  /** Starts applying, with what was pushed before (the datapath now exists). */
  start(apply: ApplyTable): void {
    this.apply = apply;
    this.kick();
  }

  /** Takes no more tables; resolves once the one being applied is done. */
  close(): Promise<void> {
    this.closed = true;
    this.next = undefined;
    return this.idle;
  }

  private kick(): void {
    if (this.busy || !this.apply || !this.next) return;
    this.busy = true;
    this.idle = this.drain(this.apply);
  }

  private async drain(apply: ApplyTable): Promise<void> {
    try {
      while (this.next) {
        const { table, why, changed } = this.next;
        this.next = undefined;
        const lost = this.lost;
        this.lost = false;
        try {
          await apply(table, why, lost ? undefined : changed);
        } catch (err) {
          this.lost = true;
          this.onError(err, why);
        }
      }
    } finally {
      this.busy = false;
    }
  }
}
