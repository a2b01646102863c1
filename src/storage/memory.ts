import type { HardState, LogEntry } from '../core/types.js';
import { checkBatch, type PersistBatch, type PersistedState, type SnapshotRecord, type Storage } from './storage.js';

/**
 * Storage in memory. It stands for a disk: keep the object across a simulated crash and restart
 * the node from it. `writes` counts batches (one batch = one fsync on a real disk). It keeps the
 * same rules as a disk: the latest snapshot and the contiguous log after it, changed only by
 * whole batches. It has no `stageSnapshot`: a snapshot's data goes in its batch, in the same step,
 * so the simulator's runs stay a pure function of their seed.
 */
export class MemoryStorage<C = unknown> implements Storage<C> {
  private hardState: HardState = { currentTerm: 0, votedFor: null };
  private snapshot: SnapshotRecord | undefined;
  /** The log after the snapshot: entries[0] is at snapshotIndex + 1. */
  private entries: LogEntry<C>[] = [];
  writes = 0;
  readonly storesSnapshots: boolean = true;

  constructor(initial?: PersistedState<C>) {
    if (initial) {
      this.hardState = initial.hardState;
      this.snapshot = initial.snapshot;
      this.entries = [...initial.entries];
    }
  }

  load(): PersistedState<C> {
    return { hardState: this.hardState, ...(this.snapshot ? { snapshot: this.snapshot } : {}), entries: [...this.entries] };
  }

  write(batch: PersistBatch<C>): void {
    // Check before changing anything, so a refused batch leaves no trace (atomicity).
    const staged = batch.snapshot?.staged;
    if (staged !== undefined) {
      // Snapshots reach memory whole, in their batch: there is nothing staged to record.
      throw new RangeError(`the snapshot at index ${batch.snapshot?.index} names staged snapshot ${staged}, but MemoryStorage stages no snapshots`);
    }
    const snapshotIndex = this.snapshot?.index ?? 0;
    const { base, kept } = checkBatch(batch, {
      snapshotIndex,
      snapshotTerm: this.snapshot?.term ?? 0,
      lastIndex: snapshotIndex + this.entries.length,
      currentTerm: this.hardState.currentTerm,
      termAt: (index) => (this.entries[index - snapshotIndex - 1] as LogEntry<C>).term,
    });
    if (batch.hardState !== undefined) this.hardState = batch.hardState;
    if (batch.snapshot !== undefined) {
      this.snapshot = batch.snapshot;
      this.entries = this.entries.slice(Math.max(0, base - snapshotIndex));
    }
    this.entries.length = kept - base;
    for (const entry of batch.entries) this.entries.push(entry);
    this.writes++;
  }

  close(): void {}
}
