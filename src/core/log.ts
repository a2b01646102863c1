import type { LogEntry, LogIndex, Term } from './types.js';

/**
 * The replicated log, 1-based, with index 0 / term 0 as the empty log's sentinel — or, after a
 * snapshot, the entries after it: `snapshotIndex` / `snapshotTerm` take the sentinel's place
 * (§7: the last included index and term), and the entries at or before `snapshotIndex` are
 * compacted — `entry()` and `termAt()` know nothing of them, and asking `slice()` for them is a bug.
 *
 * Cost model (DESIGN.md, "The node machine"): copying the entry array on every event costs more
 * than the event itself. So a RaftLog is a small view — (shared array, length) — over an array
 * that grows in place: appending to the newest view pushes onto the shared array and returns a
 * new view in O(entries appended). Truncation never mutates: it returns a shorter view, and the
 * first append after it copies the kept prefix once (conflicts are rare). Compaction copies the
 * kept suffix once (once per snapshot).
 *
 * Why views and not one mutable object: machine snapshots must stay valid after later events.
 * @xstate/graph explores many events from the same snapshot, and a test may keep an old
 * snapshot to compare against; an older view only ever reads the prefix it was made with,
 * which in-place growth never changes.
 */
export class RaftLog<C = unknown> {
  private constructor(
    /** store[0] is the entry at snapshotIndex + 1. */
    private readonly store: LogEntry<C>[],
    /** Number of entries in this view (after the snapshot). */
    readonly length: number,
    /** The last index the snapshot covers (0: no snapshot). */
    readonly snapshotIndex: LogIndex = 0,
    /** The term of that entry (0: no snapshot). */
    readonly snapshotTerm: Term = 0,
  ) {}

  static empty<C = unknown>(): RaftLog<C> {
    return RaftLog.from<C>([]);
  }

  /**
   * A log holding exactly `entries`, which must be numbered 1, 2, 3, … — or, after a snapshot,
   * snapshot.index + 1, + 2, …
   */
  static from<C = unknown>(entries: readonly LogEntry<C>[], snapshot?: { readonly index: LogIndex; readonly term: Term }): RaftLog<C> {
    const base = snapshot?.index ?? 0;
    assertContiguous(entries, base + 1);
    return new RaftLog<C>([...entries], entries.length, base, snapshot?.term ?? 0);
  }

  /** The first index the log holds an entry for (snapshotIndex + 1; lastIndex + 1 when it holds none). */
  get firstIndex(): LogIndex {
    return this.snapshotIndex + 1;
  }

  get lastIndex(): LogIndex {
    return this.snapshotIndex + this.length;
  }

  get lastTerm(): Term {
    return this.length === 0 ? this.snapshotTerm : (this.store[this.length - 1] as LogEntry<C>).term;
  }

  /** The entry at `index`, or undefined outside firstIndex..lastIndex. */
  entry(index: LogIndex): LogEntry<C> | undefined {
    // Past our end the shared store may hold a newer view's entries; at or before snapshotIndex the
    // offset is negative, where an array holds nothing.
    return index > this.lastIndex ? undefined : this.store[index - this.snapshotIndex - 1];
  }

  /** The term at `index`: snapshotTerm at snapshotIndex (0 at the sentinel 0), undefined when compacted or past the end. */
  termAt(index: LogIndex): Term | undefined {
    if (index === this.snapshotIndex) return this.snapshotTerm;
    return this.entry(index)?.term;
  }

  /** True iff the log holds an entry at `index` with `term` (the snapshot's last entry counts; index 0 / term 0 always matches). */
  matches(index: LogIndex, term: Term): boolean {
    return this.termAt(index) === term;
  }

  /** A copy of entries from..to (inclusive, clamped to the log's end). Compacted entries cannot be asked for. */
  slice(from: LogIndex, to: LogIndex = this.lastIndex): LogEntry<C>[] {
    const end = Math.min(to, this.lastIndex);
    if (from <= this.snapshotIndex && this.snapshotIndex > 0 && end >= from) {
      throw new RangeError(`entries ${from}..${end} are asked for, but the log is compacted up to ${this.snapshotIndex}`);
    }
    const start = Math.max(from, this.firstIndex);
    return end < start ? [] : this.store.slice(start - this.snapshotIndex - 1, end - this.snapshotIndex);
  }

  /** The entries the log holds (after the snapshot), as a new array. */
  toArray(): LogEntry<C>[] {
    return this.store.slice(0, this.length);
  }

  /** The first index holding `term`, scanning back from `from` (never before firstIndex). */
  firstIndexOfTerm(term: Term, from: LogIndex): LogIndex {
    let index = Math.min(from, this.lastIndex);
    while (index > this.firstIndex && this.termAt(index - 1) === term) index--;
    return index;
  }

  /** The last index holding `term` (the snapshot's last entry included), or 0 if the log has none of that term. */
  lastIndexOfTerm(term: Term): LogIndex {
    for (let index = this.lastIndex; index >= this.snapshotIndex; index--) {
      const t = this.termAt(index) as Term;
      // Terms only grow along the log: the first entry from the end whose term is not above `term` decides.
      if (t <= term) return t === term ? index : 0;
    }
    return 0;
  }

  /** A view with `entries` after the last entry. Their indexes must continue the log. */
  append(entries: readonly LogEntry<C>[]): RaftLog<C> {
    if (entries.length === 0) return this;
    assertContiguous(entries, this.lastIndex + 1);
    // Stryker disable next-line ConditionalExpression,BlockStatement: copying instead of growing in place makes the same view, only slower (the cost model above)
    if (this.store.length === this.length) {
      // This is the newest view of the shared array: grow it in place.
      for (const entry of entries) this.store.push(entry);
      return new RaftLog(this.store, this.length + entries.length, this.snapshotIndex, this.snapshotTerm);
    }
    // A newer view (or a longer past) shares the array beyond our length: copy our prefix.
    const store = this.store.slice(0, this.length);
    for (const entry of entries) store.push(entry);
    return new RaftLog(store, store.length, this.snapshotIndex, this.snapshotTerm);
  }

  /** A view without the entries from `index` on. Compacted entries cannot be truncated (they are committed). */
  truncateFrom(index: LogIndex): RaftLog<C> {
    if (index <= this.snapshotIndex) {
      throw new RangeError(`cannot truncate from index ${index}: the first entry the log holds is ${this.firstIndex}`);
    }
    return index > this.lastIndex ? this : new RaftLog(this.store, index - this.snapshotIndex - 1, this.snapshotIndex, this.snapshotTerm);
  }

  /** The log after a snapshot at `index` (snapshotIndex ≤ index ≤ lastIndex): the entries it covers are dropped, the rest kept. */
  compact(index: LogIndex): RaftLog<C> {
    if (index < this.snapshotIndex || index > this.lastIndex) {
      throw new RangeError(`cannot compact up to ${index}: the log holds ${this.firstIndex}..${this.lastIndex}`);
    }
    if (index === this.snapshotIndex) return this;
    const term = this.termAt(index) as Term;
    return new RaftLog(this.store.slice(index - this.snapshotIndex, this.length), this.lastIndex - index, index, term);
  }

  /**
   * The log after installing a leader's snapshot at (index, term), §7 rules 6 and 7: if it holds an
   * entry with that index and term, the entries after it are kept; otherwise the whole log is
   * discarded. Reports whether entries after the snapshot were discarded.
   */
  installSnapshot(index: LogIndex, term: Term): { log: RaftLog<C>; discardedAfter: boolean } {
    if (index <= this.snapshotIndex) throw new RangeError(`a snapshot at ${index} is not newer than the one at ${this.snapshotIndex}`);
    if (this.termAt(index) === term) return { log: this.compact(index), discardedAfter: false };
    return { log: RaftLog.from<C>([], { index, term }), discardedAfter: this.lastIndex > index };
  }
}

function assertContiguous(entries: readonly LogEntry<unknown>[], firstIndex: LogIndex): void {
  entries.forEach((entry, i) => {
    if (entry.index !== firstIndex + i) {
      throw new RangeError(`log entry has index ${entry.index}, expected ${firstIndex + i}`);
    }
  });
}

/**
 * Is a candidate's log at least as up to date as ours? (§5.4.1: compare the last terms; if they
 * are equal, the longer log wins.)
 */
export function isLogUpToDate(candidateLastIndex: LogIndex, candidateLastTerm: Term, log: RaftLog<unknown>): boolean {
  return candidateLastTerm > log.lastTerm || (candidateLastTerm === log.lastTerm && candidateLastIndex >= log.lastIndex);
}

export interface MergeResult<C> {
  readonly log: RaftLog<C>;
  /** The first index removed because of a conflict, if any. */
  readonly truncatedFrom: LogIndex | undefined;
  /** The entries actually written (after the conflict point or past the end). */
  readonly appended: readonly LogEntry<C>[];
}

/**
 * AppendEntries receiver rules 3 and 4 (Figure 2), for a request whose prevLogIndex/prevLogTerm
 * already matched: skip entries we already hold, truncate only at the first entry whose term
 * differs, append the rest. A stale or duplicated request (all entries already held) changes
 * nothing — it must never shorten the log.
 */
export function mergeEntries<C>(log: RaftLog<C>, entries: readonly LogEntry<C>[]): MergeResult<C> {
  let i = 0;
  while (i < entries.length) {
    const entry = entries[i] as LogEntry<C>;
    const held = log.termAt(entry.index);
    if (held === undefined) break; // past our end: append from here
    if (held !== entry.term) {
      const kept = log.truncateFrom(entry.index);
      const appended = entries.slice(i);
      return { log: kept.append(appended), truncatedFrom: entry.index, appended };
    }
    i++;
  }
  const appended = entries.slice(i);
  return { log: log.append(appended), truncatedFrom: undefined, appended };
}

export interface ConflictHint {
  readonly conflictTerm: Term;
  readonly conflictIndex: LogIndex;
}

/**
 * What a follower tells the leader when prevLogIndex/prevLogTerm do not match, so the leader can
 * skip a whole conflicting term per round trip instead of one entry (§5.3, "optimization").
 */
export function conflictHint(log: RaftLog<unknown>, prevLogIndex: LogIndex): ConflictHint {
  const term = log.termAt(prevLogIndex);
  if (term === undefined) return { conflictTerm: 0, conflictIndex: log.lastIndex + 1 };
  return { conflictTerm: term, conflictIndex: log.firstIndexOfTerm(term, prevLogIndex) };
}

/**
 * The leader's next guess for a follower's nextIndex after a rejection with a hint: if the leader
 * has entries of the conflicting term, resume just after its last one; otherwise jump to the
 * first index the follower holds of that term.
 */
export function nextIndexAfterConflict(log: RaftLog<unknown>, hint: ConflictHint): LogIndex {
  // Stryker disable next-line ConditionalExpression,EqualityOperator: a shortcut: no entry has term 0, so lastIndexOfTerm(0) would be 0 (after scanning the whole log)
  if (hint.conflictTerm > 0) {
    const last = log.lastIndexOfTerm(hint.conflictTerm);
    if (last > 0) return last + 1;
  }
  return Math.max(1, hint.conflictIndex);
}

const entrySizes = new WeakMap<object, number>();

/**
 * Approximate wire size of an entry in bytes (its JSON), remembered per entry object: entries are
 * immutable and shared, so each is measured once.
 */
export function entrySize(entry: LogEntry<unknown>): number {
  let size = entrySizes.get(entry);
  if (size === undefined) {
    let command: string | undefined;
    try {
      command = JSON.stringify(entry.command);
    } catch {
      // A command with no JSON (a BigInt, a cycle) counts as none.
    }
    size = 48 + (command?.length ?? 0);
    entrySizes.set(entry, size);
  }
  return size;
}

/**
 * How many entries from `from` on fit in one message of at most `maxBytes` (and at most
 * `maxEntries`); always at least one, so a single large entry still makes progress.
 */
export function entriesThatFit(log: RaftLog<unknown>, from: LogIndex, maxEntries: number, maxBytes: number): number {
  let bytes = 0;
  let count = 0;
  for (let index = from; index <= log.lastIndex && count < maxEntries; index++) {
    bytes += entrySize(log.entry(index) as LogEntry<unknown>);
    if (bytes > maxBytes) break; // a first entry larger than maxBytes still goes alone (below)
    count++;
  }
  return Math.max(1, count);
}
