import type { LogEntry } from './core/types.js';

/**
 * The application state a Raft log drives. Every node applies the same committed commands in the
 * same order, so `apply` must be deterministic: its result may depend only on the state and the
 * command (no clock, no randomness, no I/O). `query` must not change the state.
 *
 * Raft's own no-op entries are not passed to `apply`.
 */
export interface StateMachine<Command = unknown, Result = unknown, Query = unknown, QueryResult = unknown> {
  apply(command: Command, entry: LogEntry<Command>): Result;
  query(query: Query): QueryResult;
}
