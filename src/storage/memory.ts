import type { HardState, LogEntry } from '../core/types.js';
import type { PersistBatch, PersistedState, Storage } from './storage.js';

/**
 * Storage in memory. It stands for a disk: keep the object across a simulated crash and restart
 * the node from it. `writes` counts batches (one batch = one fsync on a real disk).
 */
export class MemoryStorage<C = unknown> implements Storage<C> {
  private hardState: HardState = { currentTerm: 0, votedFor: null };
  private entries: LogEntry<C>[] = [];
  writes = 0;

  constructor(initial?: PersistedState<C>) {
    if (initial) {
      this.hardState = initial.hardState;
      this.entries = [...initial.entries];
    }
  }

  load(): PersistedState<C> {
    return { hardState: this.hardState, entries: [...this.entries] };
  }

  write(batch: PersistBatch<C>): void {
    // Check before changing anything, so a refused batch leaves no trace (atomicity).
    const first = batch.entries[0]?.index;
    const kept = Math.min(this.entries.length, (batch.truncateFrom ?? Infinity) - 1, (first ?? Infinity) - 1);
    if (first !== undefined && first !== kept + 1) {
      throw new Error(`storage: batch starts at index ${first} but the log would end at ${kept}`);
    }
    if (batch.hardState !== undefined) this.hardState = batch.hardState;
    this.entries.length = kept;
    for (const entry of batch.entries) this.entries.push(entry);
    this.writes++;
  }

  close(): void {}
}
