/**
 * How a state machine's snapshot travels and rests: as text. A state machine's `snapshot()` returns
 * a JSON value or a Uint8Array; it is stored and sent as `j:` + its JSON, or `b:` + the bytes in
 * base64, and given back to `restore()` as the same kind of value. The text is what the log's
 * snapshot record, the InstallSnapshot chunks and storage hold.
 */
import { jsonValueError } from '../core/json.js';
import type { JsonValue } from '../core/json.js';
import { InvalidRequestError } from '../errors.js';

export type SnapshotValue = JsonValue | Uint8Array;

export function encodeSnapshot(value: SnapshotValue): string {
  if (value instanceof Uint8Array) return `b:${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')}`;
  const error = jsonValueError(value, 'snapshot');
  if (error !== undefined) throw new InvalidRequestError(`a state machine's snapshot() must return a JSON value or a Uint8Array: ${error}`);
  return `j:${JSON.stringify(value)}`;
}

export function decodeSnapshot(text: string): SnapshotValue {
  if (text.startsWith('j:')) return JSON.parse(text.slice(2)) as JsonValue;
  if (text.startsWith('b:')) return new Uint8Array(Buffer.from(text.slice(2), 'base64'));
  throw new RangeError(`not a snapshot this version can read (it starts with ${JSON.stringify(text.slice(0, 8))})`);
}
