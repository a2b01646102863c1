import type { JsonValue } from './core/json.js';
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
  /**
   * The whole state, as a JSON value or bytes, so the log behind it can be compacted (Raft §7).
   * Taken after applying an entry, never during one; it must not change the state. A state
   * machine without `snapshot` and `restore` keeps the whole log (no compaction); every node of a
   * cluster runs the same kind.
   */
  snapshot?(): JsonValue | Uint8Array;
  /** Replace the whole state by one `snapshot()` returned (on any node): after it, apply continues from the snapshot's index. */
  restore?(snapshot: JsonValue | Uint8Array): void;
  /**
   * Replicated time (src/coord/state-machine.ts is the example). On the leader only, as a client
   * command enters the log, the runtime passes it here with its wall clock (ms since the epoch) and
   * logs what this returns: the state machine reads time from the entries, never from a clock.
   */
  stamp?(command: Command, now: number): Command;
  /** The earliest instant, on the stamps' clock, at which applied state is due to change by itself (an expiry); undefined when none is. */
  nextDeadline?(): number | undefined;
  /** The command the leader appends once nextDeadline() has passed, so that time passes in the log without client traffic. */
  tick?(): Command;
}
