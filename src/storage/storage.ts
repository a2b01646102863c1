import type { HardState, LogEntry, LogIndex, Term } from '../core/types.js';

/**
 * A snapshot as storage keeps it: the state machine's state after applying every entry up to
 * `index` (whose term is `term`), serialized to a string by the runtime (src/runtime/snapshot.ts).
 * Storage treats `data` as opaque text; it may be large (tens of MB): store it in chunks.
 */
export interface SnapshotRecord {
  /** lastIncludedIndex: the last entry the snapshot covers (≥ 1). */
  readonly index: LogIndex;
  /** lastIncludedTerm: that entry's term (≥ 1). */
  readonly term: Term;
  readonly data: string;
  /**
   * The data is on disk already, written ahead under this id by `Storage.stageSnapshot`: the batch
   * only makes that staged snapshot the stored one (index, term and length must be the staged
   * ones). A storage refuses a batch naming an id it does not hold staged and complete.
   */
  readonly staged?: StagedSnapshotId | undefined;
}

/** Names a snapshot's data written ahead of the batch that records it (see Storage.stageSnapshot). */
export type StagedSnapshotId = number & { readonly __stagedSnapshot: unique symbol };

/**
 * A snapshot being written ahead of the batch that records it, one small piece per call, so that
 * writing a large snapshot never holds the event loop for long: the runtime calls `writeNext` once
 * per turn (through its clock) while the node keeps serving. Nothing of it is visible to `load()`
 * until a batch records it (SnapshotRecord.staged = id: "the flip", one small transaction that also
 * drops the log it covers); a process that dies before that leaves the old snapshot with its whole
 * log, and the next open removes what was staged.
 */
export interface SnapshotStaging {
  readonly id: StagedSnapshotId;
  /** The data's size in UTF-8 bytes (known once it is all written). */
  readonly bytes: number;
  /** Write the next piece of the data; true once all of it is written (then a batch may record it). */
  writeNext(): boolean;
  /**
   * After the batch that recorded it: delete the next piece of the snapshot it replaced (kept,
   * unread, until then); true once nothing is left to delete.
   */
  tidyNext(): boolean;
  /**
   * Stop: before the flip, drop what was staged; after it, finish deleting the replaced snapshot.
   * Idempotent; never throws (what it cannot remove, the next open does).
   */
  discard(): void;
}

/**
 * What a node finds on disk when it starts: its hard state, its latest snapshot if any, and the
 * log after it — contiguous from `snapshot.index + 1` (from 1 without a snapshot). Never a gap,
 * never a log without the snapshot it continues.
 */
export interface PersistedState<C = unknown> {
  readonly hardState: HardState;
  readonly snapshot?: SnapshotRecord | undefined;
  readonly entries: readonly LogEntry<C>[];
}

/**
 * One batch of writes, applied atomically in this order: hard state; then the snapshot, which
 * replaces the stored one (it must be newer: a higher index) and drops every entry with
 * index ≤ snapshot.index — entries after it are kept; then drop every entry with
 * index ≥ truncateFrom; drop every entry at or after entries[0].index; append entries.
 */
export interface PersistBatch<C = unknown> {
  readonly hardState: HardState | undefined;
  readonly snapshot?: SnapshotRecord | undefined;
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
  /** This storage keeps snapshots (PersistBatch.snapshot): only then does a node compact its log. */
  readonly storesSnapshots?: boolean;
  load(): PersistedState<C>;
  write(batch: PersistBatch<C>): void;
  /**
   * Optional: start writing a snapshot the node took (at `index`, whose term is `term`) ahead of the
   * batch that records it (see SnapshotStaging). A storage with it lets a node take a large snapshot
   * without stalling; without it (MemoryStorage, the simulator), the snapshot's data goes in the batch.
   * Throws, with nothing staged, if the snapshot cannot be stored (a StorageError on SQLite).
   */
  stageSnapshot?(index: LogIndex, term: Term, data: string): SnapshotStaging;
  /**
   * Optional: write a batch in the background, off the event loop (BackgroundSqliteStorage: a
   * writer thread that owns the database and commits what queued meanwhile in one transaction).
   * `done` is called once the batch is on disk — or with the error, after which this storage writes
   * nothing more — and the calls come in the order the batches were submitted. A node on such a
   * storage performs each batch's messages, applies and answers in its `done`, after every earlier
   * batch's (src/runtime/raft-node.ts), so the durability contract holds as with `write`.
   */
  submit?(batch: PersistBatch<C>, done: (error: unknown) => void): void;
  /** With `submit`: block until every submitted batch is written, each `done` called in order (a clean stop). */
  settle?(): void;
  close(): void;
}

/** Fold a step's persist effects into one batch (later effects win; a truncation cuts pending appends). */
export class BatchBuilder<C = unknown> {
  private hardState: HardState | undefined;
  private snapshot: SnapshotRecord | undefined;
  private truncateFrom: LogIndex | undefined;
  private entries: LogEntry<C>[] = [];

  get empty(): boolean {
    return this.hardState === undefined && this.snapshot === undefined && this.truncateFrom === undefined && this.entries.length === 0;
  }

  add(effect: { hardState: HardState; snapshot?: SnapshotRecord; truncateFrom?: LogIndex; entries: readonly LogEntry<C>[] }): void {
    this.hardState = effect.hardState;
    if (effect.snapshot !== undefined) {
      // The snapshot covers every pending entry at or below its index; later ones are kept.
      const snapshot = effect.snapshot;
      this.snapshot = snapshot;
      this.entries = this.entries.filter((entry) => entry.index > snapshot.index);
      if (this.truncateFrom !== undefined && this.truncateFrom <= snapshot.index) this.truncateFrom = undefined;
    }
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
    const batch = { hardState: this.hardState, snapshot: this.snapshot, truncateFrom: this.truncateFrom, entries: this.entries };
    this.hardState = undefined;
    this.snapshot = undefined;
    this.truncateFrom = undefined;
    this.entries = [];
    return batch;
  }
}

/** What a batch is checked against: the stored snapshot, the stored log's end and hard state. */
export interface StoredLogView {
  /** The stored snapshot's index and term (0 and 0 without one). */
  readonly snapshotIndex: LogIndex;
  readonly snapshotTerm: number;
  readonly lastIndex: LogIndex;
  readonly currentTerm: number;
  /** Term of a stored entry (snapshotIndex < index ≤ lastIndex). */
  termAt(index: LogIndex): number;
}

/**
 * The rules every stored log keeps, checked before a batch touches anything, so that a refused
 * batch leaves no trace and every Storage refuses the same batches: a snapshot only replaces an
 * older one (index and term ≥ 1, data a string); indexes and truncateFrom ≥ 1 and after the
 * snapshot; entries contiguous and continuing what is kept, terms ≥ 1, never decreasing (from the
 * snapshot's term on), and never above currentTerm. Returns where the snapshot ends (`base`), the
 * index the kept log ends at, and the log's last term; throws a RangeError naming the broken rule.
 */
export function checkBatch(batch: PersistBatch<unknown>, stored: StoredLogView): { base: LogIndex; baseTerm: number; kept: LogIndex; lastTerm: number } {
  const { hardState, snapshot, truncateFrom, entries } = batch;
  const isInt = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  if (hardState !== undefined) {
    if (!isInt(hardState.currentTerm)) throw new RangeError(`currentTerm ${String(hardState.currentTerm)} is not an integer ≥ 0`);
    if (hardState.votedFor !== null && typeof hardState.votedFor !== 'string') throw new RangeError('votedFor must be a node id or null');
  }
  let base = stored.snapshotIndex;
  let baseTerm = stored.snapshotTerm;
  if (snapshot !== undefined) {
    if (!(isInt(snapshot.index) && snapshot.index >= 1)) throw new RangeError(`snapshot index ${String(snapshot.index)} is not an index ≥ 1`);
    if (!(isInt(snapshot.term) && snapshot.term >= 1)) throw new RangeError(`snapshot term ${String(snapshot.term)} is not a term ≥ 1`);
    if (typeof snapshot.data !== 'string') throw new RangeError('snapshot data must be a string');
    if (snapshot.index <= stored.snapshotIndex) {
      throw new RangeError(`snapshot at index ${snapshot.index} is not newer than the stored one at ${stored.snapshotIndex}; a snapshot never replaces a newer one`);
    }
    base = snapshot.index;
    baseTerm = snapshot.term;
  }
  if (truncateFrom !== undefined && !(isInt(truncateFrom) && truncateFrom > base)) {
    throw new RangeError(`truncateFrom ${String(truncateFrom)} is not an index after the snapshot (${base})`);
  }
  const first = entries[0]?.index;
  if (first !== undefined && !(isInt(first) && first > base)) throw new RangeError(`the first entry's index ${String(first)} is not an index after the snapshot (${base})`);
  // Entries the snapshot covers are gone; a stored log that ends before the snapshot is gone whole.
  const storedAfterBase = Math.max(stored.lastIndex, base);
  const kept = Math.min(storedAfterBase, (truncateFrom ?? Infinity) - 1, (first ?? Infinity) - 1);
  if (first !== undefined && first !== kept + 1) throw new RangeError(`batch starts at index ${first} but the log would end at ${kept}`);
  const currentTerm = hardState?.currentTerm ?? stored.currentTerm;
  let lastTerm = kept === base ? baseTerm : stored.termAt(kept);
  if (snapshot !== undefined && kept > base && stored.termAt(base + 1) < baseTerm) {
    throw new RangeError(`the kept entry ${base + 1} has term ${stored.termAt(base + 1)}, below the snapshot's term ${baseTerm}: discard the log (truncateFrom ${base + 1})`);
  }
  if (baseTerm > currentTerm) throw new RangeError(`the snapshot's term ${baseTerm} is above currentTerm ${currentTerm}`);
  entries.forEach((entry, i) => {
    const index = kept + 1 + i;
    if (entry.index !== index) throw new RangeError(`entry ${i} has index ${String(entry.index)}, expected ${index}: a batch's entries are contiguous`);
    if (!isInt(entry.term) || entry.term < 1) throw new RangeError(`entry ${index} has term ${String(entry.term)}; a term is an integer ≥ 1`);
    if (entry.term < lastTerm) throw new RangeError(`entry ${index} has term ${entry.term} after term ${lastTerm}; terms never decrease along a log`);
    lastTerm = entry.term;
  });
  if (lastTerm > currentTerm) throw new RangeError(`the log would end with term ${lastTerm}, above currentTerm ${currentTerm}`);
  return { base, baseTerm, kept, lastTerm };
}
