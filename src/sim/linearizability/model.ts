/**
 * The sequential model of one key that the search runs operations against: a history entry
 * compiled to an `Op` (validated; its output turned into a constraint on the state before it), the
 * key's state as canonical JSON text, and `step`, which applies an op to a state. Also
 * `canonicalJson`, re-exported by `../linearizability.ts`.
 */
import { canonicalJson as canonicalJsonText } from '../../core/json.js';
import type { HistoryEntry, KvOp } from './history.js';

/** The model state of one key: the canonical JSON of its value, or ABSENT. No JSON text is empty. */
export type State = string;
export const ABSENT: State = '';

export interface Op {
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

export function compile(entry: HistoryEntry, position: number): Op {
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

export function satisfies(state: State, expect: Expectation): boolean {
  if (expect.is !== undefined && state !== expect.is) return false;
  if (expect.present !== undefined && (state !== ABSENT) !== expect.present) return false;
  if (expect.isNot !== undefined && state === expect.isNot) return false;
  return true;
}

/** The state after `op` takes effect in `state`, or undefined if its output rules that out. */
export function step(state: State, op: Op): State | undefined {
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

// ---------------------------------------------------------------- JSON values

/**
 * Canonical JSON text of `value`: object keys sorted, so structurally equal values have equal
 * text; throws a TypeError naming `where` if it is not a JSON value. Kept separate from the
 * key-value store's own comparison on purpose: a test oracle must not share code with what it tests.
 */
export function canonicalJson(value: unknown, where = 'value'): string {
  const text = canonicalJsonText(value);
  if (text === undefined) throw new TypeError(`${where} is not a JSON value (or is nested too deeply)`);
  return text;
}
