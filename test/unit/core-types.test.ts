import { describe, expect, it } from 'vitest';
import { isNoop, NOOP } from '../../src/core/types.js';

describe('isNoop: the entry a new leader appends to commit one of its own term (§5.4.2, §8)', () => {
  it('NOOP is a noop, and so is any object whose type is raft.noop (as it comes back from JSON or the disk)', () => {
    expect(NOOP).toEqual({ type: 'raft.noop' });
    expect(isNoop(NOOP)).toBe(true);
    expect(isNoop(JSON.parse(JSON.stringify(NOOP)))).toBe(true);
    expect(isNoop({ type: 'raft.noop', extra: 1 })).toBe(true);
  });

  it('a command of another type, or with no type, is not a noop', () => {
    for (const command of [{ type: 'put', key: 'k', value: 1 }, { type: 'raft.config', voters: [], learners: [] }, {}, [], { type: '' }]) {
      expect(isNoop(command), JSON.stringify(command)).toBe(false);
    }
  });

  it('a value that is not an object is not a noop, and asking never throws (null, undefined, the bare string)', () => {
    for (const command of [null, undefined, 'raft.noop', 0, true]) expect(isNoop(command), String(command)).toBe(false);
  });

  it('only an object is a noop: a function carrying type raft.noop is not a command', () => {
    const fn = Object.assign(() => undefined, { type: 'raft.noop' });
    expect(isNoop(fn)).toBe(false);
  });
});
