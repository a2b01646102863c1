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
 */
import { canonicalJson as canonicalJsonText, type JsonValue } from '../core/json.js';

export type { JsonValue };


export interface GetOp {
  readonly type: 'get';
  readonly key: string;
}
export interface PutOp {
  readonly type: 'put';
  readonly key: string;
  readonly value: JsonValue;
}
export interface DeleteOp {
  readonly type: 'delete';
  readonly key: string;
}
export interface CasOp {
  readonly type: 'cas';
  readonly key: string;
  readonly from: JsonValue;
  readonly to: JsonValue;
}
export type KvOp = GetOp | PutOp | DeleteOp | CasOp;

export type GetOutput = { readonly found: true; readonly value: JsonValue } | { readonly found: false };
export type PutOutput = { readonly ok: true };
export type DeleteOutput = { readonly ok: true; readonly existed?: boolean };
export type CasOutput =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'precondition_failed'; readonly value?: JsonValue }
  | { readonly ok: false; readonly reason: 'not_found' }
  | { readonly ok: false; readonly reason?: undefined };
export type KvOutput = GetOutput | PutOutput | DeleteOutput | CasOutput;

interface Timed<O extends KvOp, R extends KvOutput> {
  readonly clientId: string;
  readonly op: O;
  /** Time of invocation. */
  readonly call: number;
  /** Time of response; absent when the outcome is unknown (the operation may or may not have happened). */
  readonly return?: number;
  /** Required for a completed get or cas; ignored when `return` is absent. */
  readonly output?: R;
}
export type HistoryEntry = Timed<GetOp, GetOutput> | Timed<PutOp, PutOutput> | Timed<DeleteOp, DeleteOutput> | Timed<CasOp, CasOutput>;

export interface CheckOptions {
  /**
   * Search budget over the whole history: every step of the search (trying an operation, undoing
   * one) and of counterexample minimization counts one. Default 1,000,000.
   */
  readonly maxStates?: number;
  /** Shrink a counterexample to a small failing set of operations (within the budget). Default true. */
  readonly minimize?: boolean;
}

export interface StuckOperation {
  readonly entry: HistoryEntry;
  /** Why it could not take effect right after the longest linearizable prefix. */
  readonly reason: string;
}

export interface Counterexample {
  readonly key: string;
  /**
   * A small sub-history of this key that still cannot be linearized, and fails for the history's own
   * reason: only operations whose effect no remaining operation could have seen were dropped, so
   * any linearization of the history would give one of this set. When `minimal`, dropping any one
   * more such operation makes the rest linearizable (writes that a remaining operation may have
   * seen are kept). All of the key's operations if minimization was off or ran out of budget.
   */
  readonly operations: readonly HistoryEntry[];
  readonly minimal: boolean;
  /** The longest sequence of this key's operations that the search could linearize, in order. */
  readonly longestLinearizablePrefix: readonly HistoryEntry[];
  /** The operations that might have come next after that prefix, and why none could. */
  readonly stuck: readonly StuckOperation[];
  /** All of the above as text, operations numbered by their position in the history (#n). */
  readonly description: string;
}

export interface LinearizabilityResult {
  readonly ok: boolean;
  readonly counterexample?: Counterexample;
  /** The budget ran out before an answer: nothing was proven either way (ok is false). */
  readonly timedOut?: boolean;
  /** Search steps used. */
  readonly states: number;
}

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
    const counterexample = explain(key, ops, outcome.longest, options.minimize ?? true ? minimize(ops, budget) : undefined);
    return { ok: false, counterexample, states: budget.used };
  }
  return timedOut ? { ok: false, timedOut: true, states: budget.used } : { ok: true, states: budget.used };
}

// ---------------------------------------------------------------- compiled operations and the model

/** The model state of one key: the canonical JSON of its value, or ABSENT. No JSON text is empty. */
type State = string;
const ABSENT: State = '';

interface Op {
  readonly position: number;
  readonly entry: HistoryEntry;
  readonly call: number;
  /** +Infinity when indeterminate. */
  readonly ret: number;
  readonly definite: boolean;
  readonly kind: KvOp['type'];
  /** put: the value; cas: `to`. */
  readonly write: State;
  /** cas: `from`. */
  readonly from: State;
  /** What the op's output says about the state just before it took effect; undefined = anything. */
  readonly expect: Expectation | undefined;
  /** False for an operation known to have changed nothing: a failed cas, a delete of a missing key. */
  readonly mayWrite: boolean;
  /** Never changes the state, whatever the state: a get, a failed cas, a delete of a missing key. */
  readonly observer: boolean;
}

/** Constraints on the state before an operation, all of which must hold. */
interface Expectation {
  readonly is?: State;
  readonly present?: boolean;
  readonly isNot?: State;
}

interface Budget {
  used: number;
  readonly max: number;
}

function compile(entry: HistoryEntry, position: number): Op {
  const where = `history entry #${position}`;
  if (typeof entry !== 'object' || entry === null) throw new TypeError(`${where} is not an object`);
  const { op } = entry;
  if (typeof op !== 'object' || op === null || typeof op.key !== 'string') throw new TypeError(`${where}: op needs a string key`);
  if (typeof entry.call !== 'number' || !Number.isFinite(entry.call)) throw new TypeError(`${where}: call must be a finite number`);
  const definite = entry.return !== undefined;
  if (definite && (typeof entry.return !== 'number' || !Number.isFinite(entry.return) || entry.return < entry.call)) {
    throw new RangeError(`${where}: return must be a finite number ≥ call (or absent when the outcome is unknown)`);
  }
  const base = { position, entry, call: entry.call, ret: definite ? (entry.return as number) : Number.POSITIVE_INFINITY, definite };
  const output = definite ? (entry.output as Record<string, unknown> | undefined) : undefined;
  switch (op.type) {
    case 'get': {
      const get = { ...base, kind: 'get' as const, write: ABSENT, from: ABSENT, mayWrite: false, observer: true };
      if (!definite) return { ...get, expect: undefined };
      if (output === undefined || typeof output.found !== 'boolean') throw new TypeError(`${where}: a completed get needs output { found, value? }`);
      return { ...get, expect: { is: output.found ? canonicalJson(output.value, `${where} output.value`) : ABSENT } };
    }
    case 'put':
      return { ...base, kind: 'put', write: canonicalJson(op.value, `${where} op.value`), from: ABSENT, expect: undefined, mayWrite: true, observer: false };
    case 'delete': {
      const existed = output?.existed;
      if (existed !== undefined && typeof existed !== 'boolean') throw new TypeError(`${where}: output.existed must be a boolean`);
      const expect = existed === undefined ? undefined : { present: existed };
      return { ...base, kind: 'delete', write: ABSENT, from: ABSENT, expect, mayWrite: existed !== false, observer: existed === false };
    }
    case 'cas': {
      const cas = { ...base, kind: 'cas' as const, from: canonicalJson(op.from, `${where} op.from`), write: canonicalJson(op.to, `${where} op.to`) };
      if (!definite) return { ...cas, expect: undefined, mayWrite: true, observer: false };
      if (output === undefined || typeof output.ok !== 'boolean') throw new TypeError(`${where}: a completed cas needs output { ok, … }`);
      if (output.ok) return { ...cas, expect: { is: cas.from }, mayWrite: true, observer: false };
      let expect: Expectation;
      if (output.reason === 'not_found') expect = { is: ABSENT };
      else if (output.reason === 'precondition_failed' && 'value' in output) {
        expect = { is: canonicalJson(output.value, `${where} output.value`) };
        if (expect.is === cas.from) throw new RangeError(`${where}: a failed cas cannot report the value it expected`);
      } else if (output.reason === 'precondition_failed') expect = { present: true, isNot: cas.from };
      else if (output.reason === undefined) expect = { isNot: cas.from };
      else throw new TypeError(`${where}: unknown cas failure reason ${JSON.stringify(output.reason)}`);
      return { ...cas, expect, mayWrite: false, observer: true };
    }
    default:
      throw new TypeError(`${where}: unknown operation type ${JSON.stringify((op as { type?: unknown }).type)}`);
  }
}

function satisfies(state: State, expect: Expectation): boolean {
  if (expect.is !== undefined && state !== expect.is) return false;
  if (expect.present !== undefined && (state !== ABSENT) !== expect.present) return false;
  if (expect.isNot !== undefined && state === expect.isNot) return false;
  return true;
}

/** The state after `op` takes effect in `state`, or undefined if its output rules that out. */
function step(state: State, op: Op): State | undefined {
  if (op.expect !== undefined && !satisfies(state, op.expect)) return undefined;
  switch (op.kind) {
    case 'get':
      return state;
    case 'put':
      return op.write;
    case 'delete':
      return ABSENT;
    case 'cas':
      return state === op.from ? op.write : state;
  }
}

// ---------------------------------------------------------------- the search (one key)

type Outcome = { kind: 'ok' } | { kind: 'timedOut' } | { kind: 'fail'; longest: readonly Op[] };

function search(ops: readonly Op[], budget: Budget): Outcome {
  const n = ops.length;
  // Events: node i < n is op i's call, node n + i its return. Sorted by time; a call sorts before a
  // return at the same instant (closed intervals); ties otherwise by history position (determinism).
  const nodes = Array.from({ length: 2 * n }, (_, i) => i);
  const time = (node: number) => (node < n ? ops[node]!.call : ops[node - n]!.ret);
  nodes.sort((a, b) => time(a) - time(b) || (a < n ? 0 : 1) - (b < n ? 0 : 1) || ops[a % n]!.position - ops[b % n]!.position || a - b);
  const HEAD = 2 * n;
  const next = new Int32Array(2 * n + 1).fill(-1);
  const prev = new Int32Array(2 * n + 1).fill(-1);
  let last = HEAD;
  for (const node of nodes) {
    next[last] = node;
    prev[node] = last;
    last = node;
  }
  const remove = (x: number) => {
    next[prev[x]!] = next[x]!;
    if (next[x]! !== -1) prev[next[x]!] = prev[x]!;
  };
  const restore = (x: number) => {
    next[prev[x]!] = x;
    if (next[x]! !== -1) prev[next[x]!] = x;
  };

  const bits = new Uint32Array(Math.ceil(n / 32));
  const seen = new Set<string>();
  /** `forced`: taken by the observer rule below, so there is no alternative to try in its place. */
  const stack: { op: number; state: State; forced: boolean }[] = [];
  let state: State = ABSENT;
  let remainingDefinite = ops.filter((op) => op.definite).length;
  let longest: number[] = [];
  let cur = next[HEAD]!;
  /** Whether (bits, state) was just reached, so the observer rule has not been applied to it yet. */
  let fresh = true;

  /** Linearize op `i` next, giving `after`, unless that configuration was explored before. */
  const take = (i: number, after: State, forced: boolean): boolean => {
    bits[i >> 5]! |= 1 << (i & 31);
    const key = `${bits.join(',')}|${after}`;
    if (seen.has(key)) {
      bits[i >> 5]! &= ~(1 << (i & 31));
      return false;
    }
    seen.add(key);
    stack.push({ op: i, state, forced });
    state = after;
    remove(i);
    remove(n + i);
    if (ops[i]!.definite) remainingDefinite--;
    if (stack.length > longest.length) longest = stack.map((s) => s.op);
    return true;
  };
  /** Undo choices up to and including the last one that had alternatives; false when none is left. */
  const backtrack = (): boolean => {
    for (;;) {
      const top = stack.pop();
      if (top === undefined) return false;
      state = top.state;
      bits[top.op >> 5]! &= ~(1 << (top.op & 31));
      restore(n + top.op);
      restore(top.op);
      if (ops[top.op]!.definite) remainingDefinite++;
      if (!top.forced) {
        cur = next[top.op]!;
        fresh = false;
        return true;
      }
    }
  };
  const failed = (): Outcome => ({ kind: 'fail', longest: longest.map((i) => ops[i]!) });

  for (;;) {
    // Only indeterminate operations left: let them take effect at the end (they match anything).
    if (remainingDefinite === 0) return { kind: 'ok' };
    if (++budget.used > budget.max) return { kind: 'timedOut' };
    if (fresh) {
      // Observer rule: an operation that never changes the state (a read, a failed cas, a delete of
      // a missing key), may happen now (its call precedes every pending return) and fits the state
      // can be linearized first without loss of generality — moving it to the front of any valid
      // continuation keeps that continuation valid. So take it and try nothing else here.
      let observer = -1;
      for (let node = next[HEAD]!; node !== -1 && node < n; node = next[node]!) {
        if (ops[node]!.observer && step(state, ops[node]!) !== undefined) {
          observer = node;
          break;
        }
      }
      fresh = false;
      cur = next[HEAD]!;
      if (observer !== -1) {
        if (take(observer, state, true)) fresh = true;
        else if (!backtrack()) return failed(); // explored before: a dead end, as is every alternative
        continue;
      }
    }
    if (cur < n) {
      const after = step(state, ops[cur]!);
      if (after !== undefined && take(cur, after, false)) {
        fresh = true;
        continue;
      }
      cur = next[cur]!;
    } else if (!backtrack()) {
      // The return of an operation not yet linearized, which had to take effect by now, and no
      // choice left to undo.
      return failed();
    }
  }
}

// ---------------------------------------------------------------- counterexamples

/**
 * Greedily drop operations while the rest stays non-linearizable (halves first, then one at a time,
 * until nothing more can go). Only operations whose effect no kept operation could have observed
 * are dropped (see `couldBeObserved`): dropping such an operation turns any linearization of the
 * larger set into one of the smaller, so the smaller set fails only if the larger one does — a
 * real violation, not one made by leaving out the write that a read saw.
 */
function minimize(ops: readonly Op[], budget: Budget): { ops: readonly Op[]; minimal: boolean } {
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
  return kept.some(
    (other) =>
      other !== op &&
      (other.expect !== undefined ? satisfies(op.write, other.expect) : other.kind === 'cas' && other.from === op.write),
  );
}

function explain(key: string, ops: readonly Op[], longest: readonly Op[], reduced: { ops: readonly Op[]; minimal: boolean } | undefined): Counterexample {
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

// ---------------------------------------------------------------- JSON values

/**
 * Canonical JSON text of a JSON value: object keys sorted, so structurally equal values have equal
 * text. Kept separate from the key-value store's own comparison on purpose: a test oracle must not
 * share code with what it tests.
 */
/** Canonical JSON text of `value`; throws a TypeError naming `where` if it is not a JSON value. */
export function canonicalJson(value: unknown, where = 'value'): string {
  const text = canonicalJsonText(value);
  if (text === undefined) throw new TypeError(`${where} is not a JSON value (or is nested too deeply)`);
  return text;
}
