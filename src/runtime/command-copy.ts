/**
 * The log's own copy of a client command: a structured clone, deep-frozen, so that what the
 * caller does to its object afterwards cannot change what any replica applies.
 */
import { InvalidRequestError } from '../errors.js';

/**
 * The log keeps its own frozen copy of a command: the caller may change its object afterwards, and
 * every replica — those that got the entry at once and those that catch up later from the
 * leader's memory — must apply the same value.
 */
export function ownCopy<C>(command: C): C {
  if (typeof command !== 'object' || command === null) return command;
  let copy: C;
  try {
    copy = structuredClone(command);
  } catch (error) {
    throw new InvalidRequestError(`a command must be plain data (${(error as Error).message})`);
  }
  return deepFreeze(copy);
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as object)) deepFreeze(child);
  }
  return value;
}
