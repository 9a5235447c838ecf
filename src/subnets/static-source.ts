// The static file as a subnet source: loaded at start, re-read on SIGHUP and when the file
// changes (including an editor's or kubelet's replace-by-rename), never dropping the last good table.
// One read at a time: a refresh asked for during a read makes one more read after it, so the
// listeners get the file's tables in the order they were read, the last one being the newest.
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import { readStaticTable, type StaticTableOptions } from './static-file.js';
import type { SubnetSource, TableListener } from './subnet-source.js';
import type { SubnetTable } from './subnet-table.js';

const SETTLE_MS = 100;

export class StaticFileSource implements SubnetSource {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners: TableListener[] = [];
  private lastError: string | undefined;
  private reading = false;
  /** Why the next read is due, when a refresh came during a read. */
  private again: string | undefined;

  constructor(
    readonly path: string,
    private readonly log: Logger,
    private readonly opts: StaticTableOptions = {},
    private readonly read: typeof readStaticTable = readStaticTable,
  ) {}

  async start(): Promise<SubnetTable> {
    const table = await this.read(this.path, this.opts);
    const name = basename(this.path);
    this.watcher = watch(dirname(this.path), { persistent: false }, (_event, file) => {
      if (file !== null && file !== name) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.refresh('file changed'), SETTLE_MS);
    });
    this.watcher.on('error', () => undefined); // a vanished directory ends watching; SIGHUP still works
    return table;
  }

  onTable(listener: TableListener): void {
    this.listeners.push(listener);
  }

  refresh(why: string): void {
    if (this.reading) {
      this.again = why;
      return;
    }
    this.reading = true;
    void this.readUntilCurrent(why);
  }

  private async readUntilCurrent(why: string): Promise<void> {
    for (let next: string | undefined = why; next !== undefined; next = this.again) {
      this.again = undefined;
      try {
        const table = await this.read(this.path, this.opts);
        this.lastError = undefined;
        for (const l of this.listeners) l(table, next);
      } catch (err) {
        this.lastError = (err as Error).message;
        this.log.error({ err, why: next }, 'table not reloaded; still forwarding on the last good table');
      }
    }
    this.reading = false;
  }

  problem(): string | undefined {
    return this.lastError === undefined ? undefined : `${this.path}: ${this.lastError}`;
  }

  stop(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
  }
}
