// The static file as a subnet source: loaded at start, re-read on SIGHUP and when the file
// changes (including an editor's or kubelet's replace-by-rename), never dropping the last good table.
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import { readStaticTable, type StaticTableOptions } from './static-file.js';
import type { SubnetSource } from './subnet-source.js';
import type { SubnetTable } from './subnet-table.js';

const SETTLE_MS = 100;

export class StaticFileSource implements SubnetSource {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners: ((table: SubnetTable, why: string) => void)[] = [];
  private lastError: string | undefined;

  constructor(
    readonly path: string,
    private readonly log: Logger,
    private readonly opts: StaticTableOptions = {},
  ) {}

  async start(): Promise<SubnetTable> {
    const table = await readStaticTable(this.path, this.opts);
    const name = basename(this.path);
    this.watcher = watch(dirname(this.path), { persistent: false }, (_event, file) => {
      if (file !== null && file !== name) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.refresh('file changed'), SETTLE_MS);
    });
    this.watcher.on('error', () => undefined); // a vanished directory ends watching; SIGHUP still works
    return table;
  }

  onTable(listener: (table: SubnetTable, why: string) => void): void {
    this.listeners.push(listener);
  }

  refresh(why: string): void {
    readStaticTable(this.path, this.opts).then(
      (table) => {
        this.lastError = undefined;
        for (const l of this.listeners) l(table, why);
      },
      (err: Error) => {
        this.lastError = err.message;
        this.log.error({ err, why }, 'table not reloaded; still forwarding on the last good table');
      },
    );
  }

  problem(): string | undefined {
    return this.lastError === undefined ? undefined : `${this.path}: ${this.lastError}`;
  }

  stop(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
  }
}
