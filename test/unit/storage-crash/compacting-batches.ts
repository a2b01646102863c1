/**
 * The batches of the crash-atomicity test with snapshots in them: the writer (a child process
 * killed with SIGKILL, compacting-writer.ts) and the test (which replays them into a MemoryStorage
 * to know what a store that completed batch k must hold) share this, so both compute the same
 * batch k from the same log.
 *
 * The log after the snapshot is batches.ts's crashBatch shifted past the snapshot (appends,
 * overwrites, truncate-then-append, truncation only, large entries). On top of it:
 * - every 4th batch (k % 4 = 2) snapshots the first half of the log after the current snapshot,
 *   in the same batch as its appends or truncation; every 8th such snapshot is 2.5 MB (three
 *   chunks on SQLite), so a kill can land in the middle of writing chunks;
 * - every 9th batch installs a snapshot past the end of the log (as a follower does from
 *   InstallSnapshot) and appends a few entries after it.
 * Batch k sets currentTerm = k, so the hard state on disk names the last batch completed.
 *
 * The writer stages most of the compacting snapshots ahead of their batch (`stagesSnapshot`), as a
 * node does with a snapshot it took, the large ones among them: each chunk is its own transaction
 * in its own turn, then the batch only flips it in, then the replaced snapshot is deleted a chunk at
 * a time. Installed snapshots, and every other large one, go whole in their batch.
 */
import type { LogEntry } from '../../../src/core/types.js';
import type { PersistBatch, PersistedState, SnapshotRecord } from '../../../src/storage/storage.js';
import { crashBatch, type CrashCommand } from './batches.js';

/** Deterministic snapshot data for batch k at `index`: lines naming their place, with multi-byte text. */
export function snapshotData(k: number, index: number): string {
  const size = k % 8 === 2 ? 2_500_000 : 2_000;
  const line = (i: number) => `snapshot ${k} at ${index} line ${i} é✓😀\n`;
  const parts: string[] = [];
  let length = 0;
  for (let i = 0; length < size; i++) {
    const next = line(i);
    parts.push(next);
    length += next.length;
  }
  return parts.join('');
}

/** Whether the writer stages batch k's snapshot ahead of the batch (only compacting ones: k % 4 = 2, not k % 9 = 0). */
export function stagesSnapshot(k: number): boolean {
  return k % 4 === 2 && k % 9 !== 0 && k % 16 !== 10;
}

/** The writer's view of its store: the snapshot and the terms of the log after it. */
export class CompactingLog {
  private snapshotIndex = 0;
  /** terms[i] is the term of entry snapshotIndex + 1 + i. */
  private terms: number[] = [];

  static from(state: PersistedState<unknown>): CompactingLog {
    const log = new CompactingLog();
    log.snapshotIndex = state.snapshot?.index ?? 0;
    log.terms = state.entries.map((entry) => entry.term);
    return log;
  }

  /** Batch k, given the log as it is now; the log then holds it. */
  next(k: number): PersistBatch<CrashCommand> {
    const base = this.snapshotIndex;
    const n = this.terms.length;
    let snapshot: SnapshotRecord | undefined;
    let truncateFrom: number | undefined;
    let entries: LogEntry<CrashCommand>[];
    if (k % 9 === 0) {
      // A snapshot from the leader, past everything this log holds: the whole log goes.
      const index = base + n + 3;
      snapshot = { index, term: k, data: snapshotData(k, index) };
      const pad = 'y'.repeat(20);
      entries = Array.from({ length: 1 + (k % 5) }, (_, i) => ({ index: index + 1 + i, term: k, command: { batch: k, i, pad } }));
    } else {
      // crashBatch's log, shifted to start after the snapshot (its truncations stay after it).
      const plain = crashBatch(k, n);
      truncateFrom = plain.truncateFrom === undefined ? undefined : plain.truncateFrom + base;
      entries = plain.entries.map((entry) => ({ ...entry, index: entry.index + base }));
      if (k % 4 === 2 && n >= 12) {
        // Compact the first half; crashBatch never truncates below n - 5, so what it cuts is after it.
        const index = base + Math.floor(n / 2);
        snapshot = { index, term: this.terms[Math.floor(n / 2) - 1] as number, data: snapshotData(k, index) };
      }
    }
    const batch: PersistBatch<CrashCommand> = { hardState: { currentTerm: k, votedFor: `n${k % 3}` }, snapshot, truncateFrom, entries };
    this.apply(batch);
    return batch;
  }

  private apply(batch: PersistBatch<CrashCommand>): void {
    if (batch.snapshot !== undefined) {
      this.terms = this.terms.slice(Math.max(0, batch.snapshot.index - this.snapshotIndex));
      this.snapshotIndex = batch.snapshot.index;
    }
    const cut = Math.min(batch.truncateFrom ?? Infinity, batch.entries[0]?.index ?? Infinity);
    if (cut !== Infinity) this.terms.length = Math.min(this.terms.length, Math.max(0, cut - this.snapshotIndex - 1));
    for (const entry of batch.entries) this.terms.push(entry.term);
  }
}
