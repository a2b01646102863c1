/**
 * Per-node rules on the log: log changes are persisted in the same step, a leader never overwrites
 * its own entries, truncation happens only on a real conflict, and the log stays well formed.
 * Re-exported by `../node-invariants.ts`.
 */
import type { LogEntry, LogIndex, Term } from '../../core/types.js';
import { isLeader, persists, sameEntry, violation, type Effects, type NodeView, type Violation } from './step.js';

/** The log as storage holds it after this step's persists, replayed over the log before the step. */
class PersistedLog {
  /** The last index a snapshot covers. */
  base: LogIndex;
  /** The log before the step holds the entries up to here (after base). */
  private kept: number;
  private tail: LogEntry<unknown>[] = [];

  constructor(private readonly before: NodeView['log']) {
    this.base = before.snapshotIndex;
    this.kept = before.lastIndex;
  }

  get lastIndex(): LogIndex {
    return this.kept + this.tail.length;
  }

  entry(index: LogIndex): LogEntry<unknown> | undefined {
    if (index <= this.base || index > this.lastIndex) return undefined;
    return index <= this.kept ? this.before.entry(index) : this.tail[index - this.kept - 1];
  }

  /** A snapshot at `index`: the entries it covers are gone (a log ending before it is gone whole). */
  snapshot(index: LogIndex): void {
    if (index >= this.kept) {
      this.tail = this.tail.filter((entry) => entry.index > index);
      this.kept = index;
    }
    this.base = Math.max(this.base, index);
  }

  truncateFrom(index: LogIndex): void {
    if (index - 1 <= this.kept) {
      this.kept = Math.max(this.base, Math.min(this.kept, index - 1));
      this.tail = [];
    } else {
      this.tail.length = Math.min(this.tail.length, index - 1 - this.kept);
    }
  }

  /** Appends; returns the first index that did not continue the log, if any. */
  append(entries: readonly LogEntry<unknown>[]): LogIndex | undefined {
    for (const entry of entries) {
      if (entry.index !== this.lastIndex + 1) return entry.index;
      this.tail.push(entry);
    }
    return undefined;
  }
}

/**
 * Replaying this step's persists over the log before the step gives exactly the log after it:
 * nothing reaches the log without reaching storage, and storage is never told something the log
 * does not hold.
 */
export function logChangesArePersisted(prev: NodeView, next: NodeView, effects: Effects): Violation[] {
  const writes = persists(effects);
  if (writes.length === 0 && next.log === prev.log) return [];
  const stored = new PersistedLog(prev.log);
  for (const p of writes) {
    if (p.snapshot !== undefined) stored.snapshot(p.snapshot.index);
    if (p.truncateFrom !== undefined) stored.truncateFrom(p.truncateFrom);
    const gap = stored.append(p.entries);
    if (gap !== undefined) {
      return [violation('logChangesArePersisted', `persist appends index ${gap} after index ${stored.lastIndex}`)];
    }
  }
  if (stored.lastIndex !== next.log.lastIndex) {
    return [violation('logChangesArePersisted', `log ends at ${next.log.lastIndex} but storage would end at ${stored.lastIndex}`)];
  }
  if (stored.base !== next.log.snapshotIndex) {
    return [violation('logChangesArePersisted', `the log is compacted up to ${next.log.snapshotIndex} but storage holds a snapshot up to ${stored.base}`)];
  }
  for (let index = next.log.lastIndex; index > next.log.snapshotIndex; index--) {
    if (!sameEntry(stored.entry(index), next.log.entry(index))) {
      return [violation('logChangesArePersisted', `index ${index}: log holds term ${next.log.termAt(index)}, storage term ${stored.entry(index)?.term}`)];
    }
  }
  return [];
}

/** While it leads in one term, a leader's log only grows, its old prefix unchanged, by entries of its term. */
export function leaderNeverOverwritesItsEntries(prev: NodeView, next: NodeView, effects: Effects): Violation[] {
  if (!isLeader(prev) || next.currentTerm !== prev.currentTerm) return [];
  const found: Violation[] = [];
  for (const p of persists(effects)) {
    if (p.truncateFrom !== undefined) found.push(violation('leaderNeverOverwritesItsEntries', `leader of term ${prev.currentTerm} persisted a truncation from ${p.truncateFrom}`));
  }
  if (next.log.lastIndex < prev.log.lastIndex) {
    found.push(violation('leaderNeverOverwritesItsEntries', `leader of term ${prev.currentTerm}: log shrank from ${prev.log.lastIndex} to ${next.log.lastIndex}`));
    return found;
  }
  // Compaction drops entries behind a snapshot; it overwrites none.
  for (let index = next.log.firstIndex; index <= prev.log.lastIndex; index++) {
    if (!sameEntry(prev.log.entry(index), next.log.entry(index))) {
      found.push(violation('leaderNeverOverwritesItsEntries', `leader of term ${prev.currentTerm} changed its entry at ${index}`));
      return found;
    }
  }
  // An entry appended in this step may be compacted in it too (a lone voter commits, applies and
  // snapshots at once): its term is the one the step persisted.
  const persisted = new Map(persists(effects).flatMap((p) => p.entries.map((e) => [e.index, e.term] as const)));
  for (let index = prev.log.lastIndex + 1; index <= next.log.lastIndex; index++) {
    const term = index > next.log.snapshotIndex ? next.log.termAt(index) : persisted.get(index);
    if (term !== prev.currentTerm) {
      found.push(violation('leaderNeverOverwritesItsEntries', `leader of term ${prev.currentTerm} appended an entry of term ${term} at ${index}`));
    }
  }
  return found;
}

/**
 * A persist that truncates from index k does so because the entry it writes at k has a different
 * term from the one held there (AppendEntries receiver rule 3) — never to shorten the log on a
 * duplicate or stale request, never beyond the end, and never at or below commitIndex.
 */
export function truncateOnlyOnConflict(prev: NodeView, _next: NodeView, effects: Effects): Violation[] {
  const found: Violation[] = [];
  // Each persist is judged against the log as the persists before it in this step left it.
  const stored = new PersistedLog(prev.log);
  for (const p of persists(effects)) {
    const from = p.truncateFrom;
    if (p.snapshot !== undefined) {
      // Installing a leader's snapshot discards a log that disagrees with it at its index (§7 rule 7).
      const disagrees = stored.entry(p.snapshot.index)?.term !== p.snapshot.term;
      if (from !== undefined && (from !== p.snapshot.index + 1 || !disagrees)) {
        found.push(violation('truncateOnlyOnConflict', `installs a snapshot at ${p.snapshot.index} and truncates from ${from}, though the log agrees with it there`));
      }
      stored.snapshot(p.snapshot.index);
      if (from !== undefined) stored.truncateFrom(from);
      stored.append(p.entries);
      continue;
    }
    if (from !== undefined) {
      const held = stored.entry(from)?.term;
      const written = p.entries[0];
      if (from <= prev.commitIndex) {
        found.push(violation('truncateOnlyOnConflict', `truncates committed entries from ${from} (commitIndex ${prev.commitIndex})`));
      }
      if (held === undefined) {
        found.push(violation('truncateOnlyOnConflict', `truncates from ${from}, where the log (last index ${stored.lastIndex}) holds nothing`));
      } else if (written === undefined || written.index !== from) {
        found.push(violation('truncateOnlyOnConflict', `truncates from ${from} without writing a replacement entry there`));
      } else if (written.term === held) {
        found.push(violation('truncateOnlyOnConflict', `truncates from ${from} although the new entry there has the same term ${held}`));
      }
      stored.truncateFrom(from);
    }
    stored.append(p.entries);
  }
  return found;
}

/** The lowest index this step's persists write or cut, or just past the old end if they do neither. */
export function firstIndexWritten(prev: NodeView, effects: Effects): LogIndex {
  let first = prev.log.lastIndex + 1;
  for (const p of persists(effects)) first = Math.min(first, p.truncateFrom ?? Infinity, p.entries[0]?.index ?? Infinity);
  return Math.max(first, 1);
}

/**
 * Entries are numbered 1, 2, 3, … (index 0 / term 0 is the sentinel), terms never decrease along
 * the log and none is above currentTerm; commitIndex lies within the log. Checked from `from` on:
 * the entries below it are unchanged (logChangesArePersisted) and were checked in earlier steps,
 * and currentTerm only grows.
 */
export function logIsWellFormed(next: NodeView, from: LogIndex = 1): Violation[] {
  const { log, currentTerm } = next;
  if (log.snapshotIndex === 0 && log.termAt(0) !== 0) return [violation('logIsWellFormed', `the sentinel index 0 has term ${log.termAt(0)}, not 0`)];
  const start = Math.max(log.firstIndex, from);
  let previousTerm: Term = log.termAt(start - 1) ?? 0;
  for (let index = start; index <= log.lastIndex; index++) {
    const entry = log.entry(index);
    if (entry === undefined || entry.index !== index) {
      return [violation('logIsWellFormed', `position ${index} holds index ${entry?.index}`)];
    }
    if (entry.term < 1 || entry.term < previousTerm || entry.term > currentTerm) {
      return [violation('logIsWellFormed', `index ${index} has term ${entry.term} (previous ${previousTerm}, currentTerm ${currentTerm})`)];
    }
    previousTerm = entry.term;
  }
  if (next.commitIndex > log.lastIndex) {
    return [violation('logIsWellFormed', `commitIndex ${next.commitIndex} is beyond the last index ${log.lastIndex}`)];
  }
  return [];
}

/**
 * Snapshots (§7): the log holds exactly the entries after the snapshot, whose term it knows; a
 * snapshot never goes back, and covers only committed, applied entries.
 */
export function snapshotsOnlyMoveForward(prev: NodeView, next: NodeView): Violation[] {
  const { log } = next;
  const found: Violation[] = [];
  if (log.snapshotIndex < prev.log.snapshotIndex) {
    found.push(violation('snapshotsOnlyMoveForward', `the snapshot went back from ${prev.log.snapshotIndex} to ${log.snapshotIndex}`));
  }
  if (next.commitIndex < log.snapshotIndex || next.lastApplied < log.snapshotIndex) {
    found.push(violation('snapshotsOnlyMoveForward', `commitIndex ${next.commitIndex} / lastApplied ${next.lastApplied} below the snapshot at ${log.snapshotIndex}`));
  }
  if (log.snapshotIndex > 0 && log.snapshotTerm < 1) found.push(violation('snapshotsOnlyMoveForward', `the snapshot at ${log.snapshotIndex} has term ${log.snapshotTerm}`));
  if (log.lastIndex > log.snapshotIndex && (log.entry(log.firstIndex)?.term ?? 0) < log.snapshotTerm) {
    found.push(violation('snapshotsOnlyMoveForward', `the first entry after the snapshot has a term below the snapshot's ${log.snapshotTerm}`));
  }
  if (next.snapshot !== undefined && (next.snapshot.index !== log.snapshotIndex || next.snapshot.term !== log.snapshotTerm)) {
    found.push(
      violation(
        'snapshotsOnlyMoveForward',
        `the snapshot kept (${next.snapshot.index}/${next.snapshot.term}) is not where the log starts (${log.snapshotIndex}/${log.snapshotTerm})`,
      ),
    );
  }
  return found;
}
