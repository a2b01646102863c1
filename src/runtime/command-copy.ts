/**
 * The log's own copy of a client command: checked to be a JSON value, rebuilt from its JSON text
 * and deep-frozen, so that what the caller does to its object afterwards cannot change what any
 * replica applies, and the leader applies exactly what followers receive and the disk holds.
 */
import { jsonText } from '../core/json.js';
import { InvalidRequestError } from '../errors.js';

/**
 * The log keeps its own frozen copy of a command: the caller may change its object afterwards, and
 * every replica — those that got the entry at once, those that catch up later from the leader's
 * memory, the leader itself after a restart from disk — must apply the same value. Followers and
 * the disk get JSON, so the copy is the command's JSON read back: a value JSON would change
 * (NaN, an undefined field, a Date, a Map …) or cannot carry (undefined, a BigInt, a cycle) is
 * refused here, before it reaches the log, instead of failing the whole batch at the disk.
 * @throws InvalidRequestError naming what is not JSON and where (`command.a[2]: NaN is not a JSON value`)
 */
export function ownCopy<C>(command: C): C {
  const checked = jsonText(command, 'command');
  if (!checked.ok) throw new InvalidRequestError(checked.error);
  return deepFreeze(JSON.parse(checked.text) as C);
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as object)) deepFreeze(child);
  }
  return value;
}
