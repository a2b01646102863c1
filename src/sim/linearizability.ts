/**
 * Linearizability checker for key-value histories.
 *
 * The search is Wing & Gong's, with Lowe's memoization, as Porcupine does it: walk the history's
 * call/return events in time order; at each step try to linearize an operation whose call has
 * happened (apply it to the model; its output must match); when the next event is the return of an
 * operation not yet linearized, undo the last choice and try another. A (set of linearized
 * operations, model state) pair already explored is never explored again. Operations on different
 * keys commute in a key-value store, so the history is split by key and each key is checked alone
 * (P-compositionality): a history is linearizable iff every key's sub-history is.
 *
 * ## History format
 *
 * A history is an array of `HistoryEntry`, one per operation a client issued, in any order:
 *
 *   { clientId, op, call, return?, output? }
 *
 * - `op` is one of
 *     { type: 'get', key }                  → output { found: true, value } | { found: false }
 *     { type: 'put', key, value }           → output { ok: true } (ignored: a put always succeeds)
 *     { type: 'delete', key }               → output { ok: true, existed? }  (existed is checked if given)
 *     { type: 'cas', key, from, to }        → output { ok: true }
 *                                            | { ok: false, reason: 'precondition_failed', value? }
 *                                            | { ok: false, reason: 'not_found' }
 *                                            | { ok: false }  (failed, current value not reported)
 *   These are the result shapes of src/kv/state-machine.ts, so its results can be recorded as is
 *   (extra fields such as put's `index` are ignored). A cas succeeds iff the key exists and its
 *   value equals `from`.
 * - Keys are strings; values are JSON values (finite numbers, strings, booleans, null, arrays,
 *   plain objects), compared structurally: object key order does not matter, -0 equals 0.
 * - `call` is the time the client invoked the operation and `return` the time it saw the response
 *   (any numbers on one clock; only their order matters). An operation whose `return` is absent is
 *   *indeterminate* (it timed out; its outcome is unknown): it may have taken effect at any point
 *   after its call, or never, and its `output` is ignored. It is modelled as returning at +∞ with an
 *   output that matches anything, which is the same as being allowed to drop it.
 * - Intervals are closed: an operation that returns at the same instant another is called is
 *   treated as concurrent with it (never a false alarm; with a coarse clock a violation inside one
 *   tick can be missed — record a logical event counter as time if that matters).
 * - Record only operations that may have taken effect: a request refused without effect (not
 *   leader, invalid) is left out; a request retried under one client sequence number is one
 *   operation (first call, final return).
 * - Every key starts absent.
 *
 * ## Result
 *
 * `{ ok: true }` when every key's sub-history is linearizable. Otherwise `ok: false` and either a
 * `counterexample` for the first key found not linearizable (keys are checked smallest first), or
 * `timedOut: true` when the search budget (`maxStates`, a step counter, so runs are deterministic)
 * ran out before an answer: ok is true only for a proven history.
 *
 * ## Where the parts live
 *
 * Beside this file: `linearizability/history.ts` (the types above), `linearizability/model.ts`
 * (compiled operations and the one-key model), `linearizability/search.ts` (the search) and
 * `linearizability/counterexample.ts` (minimization and the description). This module re-exports
 * the public names and holds `checkLinearizable`, which splits the history by key.
 */
import { explain, minimize } from './linearizability/counterexample.js';
import type { CheckOptions, HistoryEntry, LinearizabilityResult } from './linearizability/history.js';
import { compile, type Op } from './linearizability/model.js';
import { search, type Budget } from './linearizability/search.js';

export type { JsonValue } from '../core/json.js';
export type {
  CasOp,
  CasOutput,
  CheckOptions,
  Counterexample,
  DeleteOp,
  DeleteOutput,
  GetOp,
  GetOutput,
  HistoryEntry,
  KvOp,
  KvOutput,
  LinearizabilityResult,
  PutOp,
  PutOutput,
  StuckOperation,
} from './linearizability/history.js';
export { canonicalJson } from './linearizability/model.js';
export { describeEntry } from './linearizability/counterexample.js';

const DEFAULT_MAX_STATES = 1_000_000;

export function checkLinearizable(history: readonly HistoryEntry[], options: CheckOptions = {}): LinearizabilityResult {
  const budget: Budget = { used: 0, max: options.maxStates ?? DEFAULT_MAX_STATES };
  const byKey = new Map<string, Op[]>();
  history.forEach((entry, position) => {
    const op = compile(entry, position);
    const ops = byKey.get(entry.op.key) ?? [];
    ops.push(op);
    byKey.set(entry.op.key, ops);
  });
  // Small keys first: they are cheap, and a counterexample found there is the easiest to read.
  const keys = [...byKey.keys()].sort((a, b) => byKey.get(a)!.length - byKey.get(b)!.length || (a < b ? -1 : a > b ? 1 : 0));
  let timedOut = false;
  for (const key of keys) {
    const ops = byKey.get(key)!;
    const outcome = search(ops, budget);
    if (outcome.kind === 'ok') continue;
    if (outcome.kind === 'timedOut') {
      timedOut = true;
      break;
    }
    const counterexample = explain(key, ops, outcome.longest, (options.minimize ?? true) ? minimize(ops, budget) : undefined);
    return { ok: false, counterexample, states: budget.used };
  }
  return timedOut ? { ok: false, timedOut: true, states: budget.used } : { ok: true, states: budget.used };
}
