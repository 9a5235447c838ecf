// Table changes reach the host and the datapath through one ordered queue, as flannel's single
// event loop hands them over: one change is applied at a time, and the tables that arrive
// meanwhile collapse into the newest, applied next. So no older, slower change can land after
// a newer one, and the newest is never lost.
import type { SubnetTable } from '../subnets/subnet-table.js';

export type ApplyTable = (table: SubnetTable, why: string) => Promise<void>;

export class TableQueue {
  private apply: ApplyTable | undefined;
  private next: { table: SubnetTable; why: string } | undefined;
  private busy = false;
  private closed = false;
  private idle: Promise<void> = Promise.resolve();

  constructor(private readonly onError: (err: unknown, why: string) => void) {}

  /** Takes a table; it waits while another is applied, and gives way to a newer one. */
  push(table: SubnetTable, why: string): void {
    if (this.closed) return;
    this.next = { table, why };
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
        const { table, why } = this.next;
        this.next = undefined;
        try {
          await apply(table, why);
        } catch (err) {
          this.onError(err, why);
        }
      }
    } finally {
      this.busy = false;
    }
  }
}
