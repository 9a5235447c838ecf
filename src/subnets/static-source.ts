// The static file as a subnet source: loaded at start, re-read on SIGHUP and when the file
// changes (including an editor's or kubelet's replace-by-rename), never dropping the last good table.
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { readStaticTable } from './static-file.js';
import type { SubnetTable } from './subnet-table.js';

const SETTLE_MS = 100;

export class StaticFileSource {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly path: string) {}

  load(): Promise<SubnetTable> {
    return readStaticTable(this.path);
  }

  /** Calls `changed` (debounced) whenever the file may have changed, until `signal` aborts. */
  watch(changed: () => void, signal: AbortSignal): void {
    const name = basename(this.path);
    this.watcher = watch(dirname(this.path), { signal, persistent: false }, (_event, file) => {
      if (file !== null && file !== name) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(changed, SETTLE_MS);
    });
    this.watcher.on('error', () => undefined); // a vanished directory ends watching; SIGHUP still works
    signal.addEventListener('abort', () => clearTimeout(this.timer), { once: true });
  }
}
