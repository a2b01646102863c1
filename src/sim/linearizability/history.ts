/**
 * The history format the linearizability checker reads (operations, their outputs, call and
 * return times) and the shapes of its options and result. Documented in full at the top of
 * `../linearizability.ts`, which re-exports every type here.
 */
import type { JsonValue } from '../../core/json.js';

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
