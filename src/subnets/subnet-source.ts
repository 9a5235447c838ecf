// Where the subnet table comes from: the static file or the Kubernetes API. Both hand the
// daemon complete tables; a refresh that fails keeps the last good one.
import type { SubnetTable } from './subnet-table.js';

/**
 * Called with every table after the first: `changed` names the nodes whose lease was added,
 * replaced or removed since the table before (every other lease is the same object); undefined
 * when the source does not know (every lease may be new).
 */
export type TableListener = (table: SubnetTable, why: string, changed?: ReadonlySet<string>) => void;

export interface SubnetSource {
  /** Resolves with the first complete table, our own node in it; rejects on a configuration error. */
  start(): Promise<SubnetTable>;
  /** Called with every later table and what caused it. */
  onTable(listener: TableListener): void;
  /** Asks for a fresh table now (SIGHUP). */
  refresh(why: string): void;
  /** Why the source cannot currently give a fresh table, or undefined when it can. */
  problem(): string | undefined;
  stop(): void;
}
