/**
 * What a client process reports (client-process.ts) and the test counts (jepsen.ts): each
 * operation's kind and outcome, the set/ writes, and the clock every process shares.
 */
import type { HistoryEntry } from '../../src/sim/linearizability.js';

export type Kind = 'read' | 'write' | 'cas';
export type Outcome = 'ok' | 'refused' | 'failed' | 'indeterminate';

/** One operation as the client saw it: its entry in the history (absent when failed), its kind and outcome. */
export interface Recorded {
  entry?: HistoryEntry;
  kind: Kind;
  outcome: Outcome;
}

export interface SetReport {
  /** Keys whose put was acknowledged: each must be present at the end. */
  acked: string[];
  /** Keys whose put failed definitely: none may be present. */
  failed: string[];
}

/** CLOCK_MONOTONIC in µs: one clock for every process of the machine, so their histories merge. */
export function now(): number {
  return Number(process.hrtime.bigint() / 1000n);
}
