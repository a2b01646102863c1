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

/** What a batch is checked against: the stored log's end and hard state. */
export interface StoredLogView {
  readonly lastIndex: LogIndex;
  readonly currentTerm: number;
  /** Term of a stored entry (1 ≤ index ≤ lastIndex). */
  termAt(index: LogIndex): number;
}

/**
 * The rules every stored log keeps, checked before a batch touches anything, so that a refused
 * batch leaves no trace and every Storage refuses the same batches: indexes and truncateFrom ≥ 1,
 * entries contiguous and continuing what is kept after truncation, terms ≥ 1, never decreasing,
 * and never above currentTerm. Returns the index the kept log ends at; throws a RangeError
 * naming the broken rule.
 */
export function checkBatch(batch: PersistBatch<unknown>, stored: StoredLogView): { kept: LogIndex; lastTerm: number } {
  const { hardState, truncateFrom, entries } = batch;
  const isInt = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  if (hardState !== undefined) {
    if (!isInt(hardState.currentTerm)) throw new RangeError(`currentTerm ${String(hardState.currentTerm)} is not an integer ≥ 0`);
    if (hardState.votedFor !== null && typeof hardState.votedFor !== 'string') throw new RangeError('votedFor must be a node id or null');
  }
  if (truncateFrom !== undefined && !(isInt(truncateFrom) && truncateFrom >= 1)) throw new RangeError(`truncateFrom ${String(truncateFrom)} is not an index ≥ 1`);
  const first = entries[0]?.index;
  if (first !== undefined && !(isInt(first) && first >= 1)) throw new RangeError(`the first entry's index ${String(first)} is not an index ≥ 1`);
  const kept = Math.min(stored.lastIndex, (truncateFrom ?? Infinity) - 1, (first ?? Infinity) - 1);
  if (first !== undefined && first !== kept + 1) throw new RangeError(`batch starts at index ${first} but the log would end at ${kept}`);
  const currentTerm = hardState?.currentTerm ?? stored.currentTerm;
  let lastTerm = kept === 0 ? 0 : stored.termAt(kept);
  entries.forEach((entry, i) => {
    const index = kept + 1 + i;
    if (entry.index !== index) throw new RangeError(`entry ${i} has index ${String(entry.index)}, expected ${index}: a batch's entries are contiguous`);
    if (!isInt(entry.term) || entry.term < 1) throw new RangeError(`entry ${index} has term ${String(entry.term)}; a term is an integer ≥ 1`);
    if (entry.term < lastTerm) throw new RangeError(`entry ${index} has term ${entry.term} after term ${lastTerm}; terms never decrease along a log`);
    lastTerm = entry.term;
  });
  if (lastTerm > currentTerm) throw new RangeError(`the log would end with term ${lastTerm}, above currentTerm ${currentTerm}`);
  return { kept, lastTerm };
}
