import type { HardState, LogEntry } from '../core/types.js';
import { checkBatch, type PersistBatch, type PersistedState, type Storage } from './storage.js';

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
    const { kept } = checkBatch(batch, {
      lastIndex: this.entries.length,
      currentTerm: this.hardState.currentTerm,
      termAt: (index) => (this.entries[index - 1] as LogEntry<C>).term,
    });
    if (batch.hardState !== undefined) this.hardState = batch.hardState;
    this.entries.length = kept;
    for (const entry of batch.entries) this.entries.push(entry);
    this.writes++;
  }

  close(): void {}
}
