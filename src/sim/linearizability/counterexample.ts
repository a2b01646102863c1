/**
 * Counterexamples for a key whose history cannot be linearized: shrink its operations to a small
 * failing set (dropping only writes no kept operation could have seen), then say what the longest
 * linearizable prefix was and why no remaining operation could come next. `describeEntry` is
 * re-exported by `../linearizability.ts`.
 */
import type { Counterexample, HistoryEntry } from './history.js';
import { ABSENT, canonicalJson, satisfies, step, type Op, type State } from './model.js';
import { search, type Budget } from './search.js';

/**
 * Greedily drop operations while the rest stays non-linearizable (halves first, then one at a time,
 * until nothing more can go). Only operations whose effect no kept operation could have observed
 * are dropped (see `couldBeObserved`): dropping such an operation turns any linearization of the
 * larger set into one of the smaller, so the smaller set fails only if the larger one does — a
 * real violation, not one made by leaving out the write that a read saw.
 */
export function minimize(ops: readonly Op[], budget: Budget): { ops: readonly Op[]; minimal: boolean } {
  let kept = [...ops];
  const stillFails = (candidate: readonly Op[]): boolean | undefined => {
    const outcome = search(candidate, budget);
    return outcome.kind === 'timedOut' ? undefined : outcome.kind === 'fail';
  };
  for (let size = Math.ceil(kept.length / 2); ; size = Math.ceil(size / 2)) {
    let changed = false;
    for (let start = 0; start < kept.length; ) {
      const chunk = kept.slice(start, start + size).filter((op) => !couldBeObserved(op, kept));
      if (chunk.length === 0) {
        start += size;
        continue;
      }
      const drop = new Set(chunk);
      const candidate = kept.filter((op) => !drop.has(op));
      const fails = stillFails(candidate);
      if (fails === undefined) return { ops: kept, minimal: false };
      if (fails) {
        kept = candidate;
        changed = true;
      } else {
        start += size;
      }
    }
    if (size === 1 && !changed) return { ops: kept, minimal: true };
  }
}

/**
 * Could another kept operation have seen the state `op` writes? True for a write (put, delete, a cas
 * that may have succeeded) when some other operation's output is consistent with that state, or an
 * indeterminate cas would apply on it. Reads and failed cas write nothing and are never observed.
 * This is conservative: without it, dropping `put(x, 1)` would leave `get(x) → 1` failing alone,
 * a "counterexample" that hides the write the read saw.
 */
function couldBeObserved(op: Op, kept: readonly Op[]): boolean {
  if (!op.mayWrite) return false;
  return kept.some((other) => other !== op && (other.expect !== undefined ? satisfies(op.write, other.expect) : other.kind === 'cas' && other.from === op.write));
}

export function explain(key: string, ops: readonly Op[], longest: readonly Op[], reduced: { ops: readonly Op[]; minimal: boolean } | undefined): Counterexample {
  let state: State = ABSENT;
  for (const op of longest) state = step(state, op) ?? state;
  const done = new Set(longest);
  const remaining = ops.filter((op) => !done.has(op));
  const deadline = Math.min(...remaining.filter((op) => op.definite).map((op) => op.ret));
  const candidates = remaining.filter((op) => op.call <= deadline);
  const stuck = candidates.map((op) => ({ entry: op.entry, reason: whyNot(state, op, deadline) }));
  const operations = reduced?.ops ?? ops;
  const minimal = reduced?.minimal ?? false;

  const lines = [
    `key ${JSON.stringify(key)}: its ${ops.length} operation(s) cannot be linearized.`,
    `${minimal ? 'A minimal failing set' : 'The failing operations'} (${operations.length}):`,
    ...operations.map((op) => `  ${describeEntry(op.entry, op.position)}`),
    `Longest linearizable prefix found (${longest.length} of ${ops.length}), leaving the value ${showState(state)}:`,
    ...(longest.length === 0 ? ['  (none)'] : longest.map((op) => `  ${describeEntry(op.entry, op.position)}`)),
    `None of these could take effect next:`,
    ...candidates.map((op, i) => `  #${op.position}: ${stuck[i]!.reason}`),
  ];
  return {
    key,
    operations: operations.map((op) => op.entry),
    minimal,
    longestLinearizablePrefix: longest.map((op) => op.entry),
    stuck,
    description: lines.join('\n'),
  };
}

function whyNot(state: State, op: Op, deadline: number): string {
  const what = describeOp(op.entry);
  if (step(state, op) === undefined) return `${what} is impossible when the value is ${showState(state)}`;
  const due = op.ret === deadline ? ' (it returned before anything else could happen)' : '';
  return `${what} fits the value ${showState(state)}, but no order of the remaining operations works after it${due}`;
}

function showState(state: State): string {
  return state === ABSENT ? 'absent' : state;
}

/** One operation as text: `c1 put("x", 1) → ok [10, 20]`, `c2 get("x") → not found [5, ?] (outcome unknown)`. */
export function describeEntry(entry: HistoryEntry, position?: number): string {
  const interval = entry.return === undefined ? `[${entry.call}, ?] (outcome unknown)` : `[${entry.call}, ${entry.return}]`;
  return `${position === undefined ? '' : `#${position} `}${entry.clientId} ${describeOp(entry)} ${interval}`;
}

function describeOp(entry: HistoryEntry): string {
  const { op } = entry;
  const k = JSON.stringify(op.key);
  const out = entry.return === undefined ? undefined : (entry.output as Record<string, unknown> | undefined);
  const show = (v: unknown) => canonicalJson(v, 'value');
  switch (op.type) {
    case 'get':
      return `get(${k})${out === undefined ? '' : out.found ? ` → ${show(out.value)}` : ' → not found'}`;
    case 'put':
      return `put(${k}, ${show(op.value)})`;
    case 'delete':
      return `delete(${k})${out?.existed === undefined ? '' : out.existed ? ' → existed' : ' → did not exist'}`;
    case 'cas': {
      const call = `cas(${k}, ${show(op.from)}, ${show(op.to)})`;
      if (out === undefined) return call;
      if (out.ok) return `${call} → ok`;
      if (out.reason === 'not_found') return `${call} → failed: not found`;
      if ('value' in out) return `${call} → failed: value was ${show(out.value)}`;
      return `${call} → failed`;
    }
  }
}
