/**
 * How a state machine's snapshot travels and rests: as text. A state machine's `snapshot()` returns
 * a JSON value or a Uint8Array; it is stored and sent as `j:` + its JSON, or `b:` + the bytes in
 * base64, and given back to `restore()` as the same kind of value. The text is what the log's
 * snapshot record, the InstallSnapshot chunks and storage hold.
 *
 * Also the runtime's record of a snapshot it took on a storage that stages snapshots
 * (StagedSnapshotJob): the text is written ahead a piece per turn, then handed to the machine.
 */
import { snapshotStateText } from '../core/configuration.js';
import { jsonText } from '../core/json.js';
import type { JsonValue } from '../core/json.js';
import type { LogIndex } from '../core/types.js';
import { InvalidRequestError } from '../errors.js';
import type { SnapshotRecord, SnapshotStaging } from '../storage/storage.js';

export type SnapshotValue = JsonValue | Uint8Array;

export function encodeSnapshot(value: SnapshotValue): string {
  if (value instanceof Uint8Array) return `b:${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')}`;
  // One walk both checks the value and writes its text (what JSON.stringify would write): a second
  // pass over a large state would lengthen the only part of a snapshot that blocks the node.
  const checked = jsonText(value, 'snapshot');
  if (!checked.ok) throw new InvalidRequestError(`a state machine's snapshot() must return a JSON value or a Uint8Array: ${checked.error}`);
  return `j:${checked.text}`;
}

/** The state machine's value from a snapshot's text (after the configuration it carries, if any). */
export function decodeSnapshot(stored: string): SnapshotValue {
  const text = snapshotStateText(stored);
  if (text.startsWith('j:')) return JSON.parse(text.slice(2)) as JsonValue;
  if (text.startsWith('b:')) return new Uint8Array(Buffer.from(text.slice(2), 'base64'));
  throw new RangeError(`not a snapshot this version can read (it starts with ${JSON.stringify(text.slice(0, 8))})`);
}

/**
 * A snapshot the node took, from its staging to the end of its tidying:
 * - `writing`: its data goes to storage a piece per `step()` (one per turn); the machine knows
 *   nothing of it, and the node serves with its old snapshot and whole log;
 * - `written` → `handed`: all of it is on disk; the runtime sends `snapshot.taken`, and the persist
 *   effect the machine emits for it is `record`ed to name what was staged (`batched`), so the batch
 *   only flips it in. Messages that depend on it (InstallSnapshot from it) are in that batch or a
 *   later one, so they leave only once the flip is on disk;
 * - `tidying`: the flip is on disk; the snapshot it replaced is deleted a piece per `step()`.
 */
export class StagedSnapshotJob {
  phase: 'writing' | 'written' | 'handed' | 'tidying' = 'writing';
  /** The machine took it: a gathered persist effect carries it. */
  batched = false;

  constructor(
    readonly index: LogIndex,
    readonly data: string,
    readonly staging: SnapshotStaging,
    /** The node's clock before snapshot() was called. */
    readonly started: number,
  ) {}

  /** Do the next piece of this phase's work; true while more of it remains. */
  step(): boolean {
    if (this.phase === 'writing') {
      if (!this.staging.writeNext()) return true;
      this.phase = 'written';
      return false;
    }
    if (this.phase === 'tidying') return !this.staging.tidyNext();
    return false;
  }

  /** The persist effect that records this snapshot, naming what was staged; any other effect as it is. */
  record<E extends { readonly snapshot?: SnapshotRecord | undefined }>(effect: E): E {
    const snapshot = effect.snapshot;
    if (this.phase !== 'handed' || snapshot === undefined || snapshot.index !== this.index || snapshot.data !== this.data) return effect;
    this.batched = true;
    return { ...effect, snapshot: { ...snapshot, staged: this.staging.id } };
  }
}
