/**
 * Per-node rules on commit and apply: commitIndex never decreases, a leader commits only
 * current-term entries (held by a majority of the voters: see membership.ts), and entries are applied once, in index order, never
 * beyond commitIndex (within a step, and across steps and restarts with `AppliedIndexTracker`).
 * Re-exported by `../node-invariants.ts`.
 */
import type { LogEntry, LogIndex, Term } from '../../core/types.js';
import { isLeader, violation, type Effects, type NodeView, type Violation } from './step.js';

export function commitIndexNeverDecreases(prev: NodeView, next: NodeView): Violation[] {
  return next.commitIndex < prev.commitIndex ? [violation('commitIndexNeverDecreases', `commitIndex went from ${prev.commitIndex} to ${next.commitIndex}`)] : [];
}

/**
 * Leaders (Figure 2, §5.4.2): commitIndex moves to N only if log[N].term == currentTerm. That a
 * majority of the voters holds N — the leader by its own log, and only if it is a voter — is
 * `countsOnlyVoters` (membership.ts): the voters are those of the configuration in force.
 */
export function leaderCommitsOnlyCurrentTermEntries(prev: NodeView, next: NodeView): Violation[] {
  if (!isLeader(next) || next.commitIndex <= prev.commitIndex) return [];
  const n = next.commitIndex;
  const term = next.log.termAt(n);
  if (term === next.currentTerm) return [];
  return [violation('leaderCommitsOnlyCurrentTermEntries', `leader of term ${next.currentTerm} committed index ${n} of term ${term}`)];
}

/** The entries of this step's apply effects, in emission order. */
export function appliedEntries(effects: Effects): LogEntry<unknown>[] {
  return effects.flatMap((e) => (e.type === 'apply' ? [...e.entries] : []));
}

/**
 * This step applies exactly lastApplied+1 .. lastApplied' in index order, each entry as the log
 * holds it, and nothing beyond commitIndex.
 */
export function appliesOnceInIndexOrder(prev: NodeView, next: NodeView, effects: Effects): Violation[] {
  let expected = prev.lastApplied + 1;
  for (const effect of effects) {
    if (effect.type === 'restore') {
      // A snapshot installed from the leader replaces everything up to its index: only forward.
      if (effect.snapshot.index < expected) {
        return [violation('appliesOnceInIndexOrder', `restored a snapshot at ${effect.snapshot.index} after applying up to ${expected - 1}`)];
      }
      expected = effect.snapshot.index + 1;
      continue;
    }
    if (effect.type !== 'apply') continue;
    for (const entry of effect.entries) {
      if (entry.index !== expected) {
        return [violation('appliesOnceInIndexOrder', `applied index ${entry.index}, expected ${expected} (lastApplied was ${prev.lastApplied})`)];
      }
      if (entry.index > next.commitIndex) {
        return [violation('appliesOnceInIndexOrder', `applied index ${entry.index} beyond commitIndex ${next.commitIndex}`)];
      }
      if (entry.index > next.log.snapshotIndex && next.log.termAt(entry.index) !== entry.term) {
        return [violation('appliesOnceInIndexOrder', `applied index ${entry.index} of term ${entry.term}, the log holds term ${next.log.termAt(entry.index)}`)];
      }
      expected++;
    }
  }
  if (next.lastApplied !== expected - 1) {
    return [violation('appliesOnceInIndexOrder', `lastApplied became ${next.lastApplied} but entries up to ${expected - 1} were applied`)];
  }
  if (next.lastApplied > next.commitIndex) {
    return [violation('appliesOnceInIndexOrder', `lastApplied ${next.lastApplied} is beyond commitIndex ${next.commitIndex}`)];
  }
  return [];
}

/**
 * The stream of applied entries across steps: each index once, in order, with no gap. After a
 * restart the node applies again from 1 (call `restart()`); whatever it applies at an index must
 * be the entry it applied there before (State Machine Safety, seen from one node).
 */
export class AppliedIndexTracker {
  private last: LogIndex = 0;
  private readonly terms = new Map<LogIndex, Term>();

  get lastApplied(): LogIndex {
    return this.last;
  }

  /** Where the node restarts applying from (its snapshot index; 0 without snapshots). */
  restart(from: LogIndex = 0): void {
    this.last = from;
  }

  /** What a step applied and restored, in order: a restored snapshot moves the stream to its index. */
  recordEffects(effects: Effects): Violation[] {
    const found: Violation[] = [];
    for (const effect of effects) {
      if (effect.type === 'apply') found.push(...this.record(effect.entries));
      else if (effect.type === 'restore') {
        if (effect.snapshot.index < this.last)
          found.push(violation('appliesOnceInIndexOrder', `restored a snapshot at ${effect.snapshot.index} after applying up to ${this.last}`));
        this.terms.set(effect.snapshot.index, effect.snapshot.term);
        this.last = Math.max(this.last, effect.snapshot.index);
      }
    }
    return found;
  }

  /** An independent copy (an explorer checks each branch of a schedule with its own). */
  clone(): AppliedIndexTracker {
    const copy = new AppliedIndexTracker();
    copy.last = this.last;
    for (const [index, term] of this.terms) copy.terms.set(index, term);
    return copy;
  }

  record(entries: readonly LogEntry<unknown>[]): Violation[] {
    const found: Violation[] = [];
    for (const entry of entries) {
      if (entry.index !== this.last + 1) {
        const what = entry.index <= this.last ? 'again' : `after ${this.last}, leaving a gap`;
        found.push(violation('appliesOnceInIndexOrder', `applied index ${entry.index} ${what}`));
      }
      const earlier = this.terms.get(entry.index);
      if (earlier !== undefined && earlier !== entry.term) {
        found.push(violation('appliesOnceInIndexOrder', `index ${entry.index} was applied with term ${earlier}, now with term ${entry.term}`));
      }
      this.terms.set(entry.index, entry.term);
      this.last = Math.max(this.last, entry.index);
    }
    return found;
  }
}
