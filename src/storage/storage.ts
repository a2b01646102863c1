import type { HardState, LogEntry, LogIndex } from '../core/types.js';

/** What a node finds on disk when it starts. */
export interface PersistedState<C = unknown> {
  readonly hardState: HardState;
  readonly entries: readonly LogEntry<C>[];
}

/**
 * One batch of writes, applied atomically in this order: hard state; drop every entry with
 * index ≥ truncateFrom; drop every entry at or after entries[0].index; append entries.
 */
export interface PersistBatch<C = unknown> {
  readonly hardState: HardState | undefined;
  readonly truncateFrom: LogIndex | undefined;
  readonly entries: readonly LogEntry<C>[];
}

/**
 * Durable state of one node. Synchronous on purpose: the runtime must know a batch is on disk
 * before any message that depends on it leaves (DESIGN.md, the durability contract), and an
 * embedded engine (better-sqlite3) commits synchronously. `write` must be atomic: after a crash
 * the node finds either all of a batch or none of it.
 */
export interface Storage<C = unknown> {
  load(): PersistedState<C>;
  write(batch: PersistBatch<C>): void;
  close(): void;
}

/** Fold a step's persist effects into one batch (later effects win; a truncation cuts pending appends). */
export class BatchBuilder<C = unknown> {
  private hardState: HardState | undefined;
  private truncateFrom: LogIndex | undefined;
  private entries: LogEntry<C>[] = [];

  get empty(): boolean {
    return this.hardState === undefined && this.truncateFrom === undefined && this.entries.length === 0;
  }

  add(effect: { hardState: HardState; truncateFrom?: LogIndex; entries: readonly LogEntry<C>[] }): void {
    this.hardState = effect.hardState;
    if (effect.truncateFrom !== undefined) {
      const first = this.entries[0]?.index;
      if (first !== undefined && effect.truncateFrom >= first) {
        this.entries.length = effect.truncateFrom - first;
      } else {
        this.truncateFrom = Math.min(this.truncateFrom ?? Infinity, effect.truncateFrom);
        this.entries = [];
      }
    }
    for (const entry of effect.entries) this.entries.push(entry);
  }

  take(): PersistBatch<C> {
    const batch = { hardState: this.hardState, truncateFrom: this.truncateFrom, entries: this.entries };
    this.hardState = undefined;
    this.truncateFrom = undefined;
    this.entries = [];
    return batch;
  }
}
